"""Sign-in, roles, store access and the audit trail of a server shared by a lab.

What the server holds (people's genotypes and expression) is controlled-access data: with sign-in
on, every route but the static assets answers 401 (or redirects a page to the sign-in page) until
a user signs in, with a password from the users file (components/users.py) or through the lab's
OpenID Connect provider (authlib). The session is Flask's signed cookie (itsdangerous; HttpOnly,
SameSite=Lax, Secure on HTTPS) under a key kept in a 0600 file, so every gunicorn worker accepts
the sessions of the others. Sign-in attempts are counted per user and per address in a diskcache
shared by the workers (a right password takes its own back); past the limit a sign-in is answered
429 before any password is checked.

Roles: viewer (browse, export), compute (also start, cancel, resume jobs), admin (also manages
users, from the command line). A callback whose output needs a role is refused (403) to anyone
without it before Dash runs it. A store may be open to named users and groups only (the access
file): for everyone else it does not exist (Datasets.visible).

The audit log is JSON lines appended to one file: sign-ins (failed and refused too), sign-outs,
datasets opened, CSV exports, job starts and cancels, with user, UTC time and address.
"""

from __future__ import annotations

import html
import json
import logging
import os
import secrets
import stat
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlparse

import diskcache
from flask import Flask, current_app, g, has_request_context, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from components.users import ROLES, User, UsersFile

PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/auth/")  # no data in any of them
PUBLIC_PATHS = ("/_favicon.ico",)
SIGN_IN = "/auth/sign-in"
SESSION_HOURS = 12
MAX_USER_FAILURES = 5  # wrong passwords for one name within the window, then 429 until it passes
MAX_ADDRESS_FAILURES = 20  # from one address (a lab's NAT shares one among many people)
WINDOW_S = 15 * 60
QUIET_S = 60  # a refusal anyone can cause without signing in: one audit line per address and event
AUDIT_KEY = "explorer-audit"
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ audit log
class AuditLog:
    """JSON lines appended to `path`: one write call per event, so lines of several worker
    processes never interleave."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def write(self, event: str, user: str | None, address: str | None, **fields) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": event,
                 "user": user, "address": address, **fields}  # fmt: skip
        line = (json.dumps(entry, default=str) + "\n").encode()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def record(event: str, **fields) -> None:
    """Append an event of the current request to the app's audit log (none: nothing)."""
    if not has_request_context():
        return
    log: AuditLog | None = current_app.extensions.get(AUDIT_KEY)
    if log is not None:
        user = current_user()  # a sign-in names the user it tried (fields["user"]) before there is one
        name = fields.pop("user") if "user" in fields else (user.name if user else None)
        log.write(event, name, request.remote_addr, **fields)


def current_user() -> User | None:
    """The signed-in user of this request; None without sign-in (or on a server without it)."""
    return g.get("user") if has_request_context() else None


def may(role: str) -> bool:
    """Whether this request may do what `role` may: always on a server without sign-in."""
    if not has_request_context() or not current_app.extensions.get("explorer-auth"):
        return True
    user = current_user()
    return user is not None and user.may(role)


# ----------------------------------------------------------------------------- sign-in limiter
class SignInLimiter:
    """Sign-in attempts per key ("user:NAME", "address:IP") within the last WINDOW_S seconds, in a
    diskcache directory: shared by gunicorn's worker processes (an in-memory counter per process
    would multiply the limit by the workers) with no server to run (flask-limiter's shared
    backends are Redis or Memcached). An attempt is counted before its password is checked, in one
    transaction with the check of the count: parallel attempts cannot all pass. `clock` is for
    tests."""

    def __init__(self, directory: str | Path, clock: Callable[[], float] = time.time):
        self.cache = diskcache.Cache(str(directory), size_limit=64 << 20)
        self.clock = clock

    @staticmethod
    def _limit(key: str) -> int:
        return MAX_USER_FAILURES if key.startswith("user:") else MAX_ADDRESS_FAILURES

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self.cache.get(key, []) if t > now - WINDOW_S]

    def wait(self, keys: list[str]) -> float:
        """Seconds until a sign-in under these keys is taken again; 0: now."""
        now, wait = self.clock(), 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self._limit(key):
                wait = max(wait, sorted(times)[-self._limit(key)] + WINDOW_S - now)
        return wait

    def attempt(self, keys: list[str]) -> tuple[float, float]:
        """Count an attempt under these keys unless one is at its limit: (0, when) if counted
        (pass `when` to succeeded), (seconds to wait, 0) if refused (not counted)."""
        with self.cache.transact():  # the check and the count at once, across processes
            wait = self.wait(keys)
            if wait > 0:
                return wait, 0.0
            now = self.clock()
            for key in keys:
                self.cache.set(key, [*self._recent(key, now), now], expire=WINDOW_S)
            return 0.0, now

    def first_in(self, key: str, seconds: float) -> bool:
        """Whether nothing marked `key` within the last `seconds`; marks it now if so."""
        with self.cache.transact():
            now, last = self.clock(), self.cache.get(key)
            if isinstance(last, float | int) and now - last < seconds:
                return False
            self.cache.set(key, now, expire=seconds)
            return True

    def succeeded(self, keys: list[str], when: float) -> None:
        """The attempt counted at `when` was right: the user's count starts over, and the address
        is not charged for it."""
        with self.cache.transact():
            user, *others = keys
            self.cache.delete(user)
            for key in others:
                times = self.cache.get(key, [])
                if when in times:
                    times.remove(when)
                    self.cache.set(key, times, expire=WINDOW_S)


def unlock(state_dir: str | Path, who: str) -> bool:
    """Forget the sign-in attempts counted for a user name or an address (the command line's
    `users unlock`); whether there were any."""
    directory = Path(state_dir) / "sign-in-limits"
    if not directory.is_dir():
        return False
    with diskcache.Cache(str(directory)) as cache:
        return any([cache.delete(f"user:{who.lower()}"), cache.delete(f"address:{who}")])


# ------------------------------------------------------------------------ OpenID Connect (authlib)
@dataclass
class OidcSettings:
    """An OpenID Connect provider, from a TOML file (README: Serving a lab)."""

    client_id: str
    client_secret: str
    discovery: str  # the provider's discovery document: a URL, or a local file (tests, air-gapped)
    label: str = "single sign-on"
    scope: str = "openid email profile"
    username_claim: str = "email"  # taken only when the provider says email_verified is true
    groups_claim: str = "groups"
    default_role: str | None = None  # None: only the users and groups named in roles sign in
    roles: dict[str, list[str]] = field(default_factory=dict)  # role -> users and "group:NAME"s
    redirect_uri: str | None = None  # default: /auth/oidc/callback on the address the browser used

    @classmethod
    def read(cls, path: str | Path) -> OidcSettings:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"cannot read the OpenID Connect settings {path}: {error}") from error
        unknown = set(data) - {f for f in cls.__dataclass_fields__} - {"issuer", "client_secret_file"}
        if unknown:
            raise ValueError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
        secret = data.pop("client_secret", None)
        if "client_secret_file" in data:  # keeps the secret out of a file others may read
            secret = (path.parent / data.pop("client_secret_file")).read_text().strip()
        issuer = data.pop("issuer", None)
        if "discovery" not in data and issuer:
            data["discovery"] = issuer.rstrip("/") + "/.well-known/openid-configuration"
        for key in ("client_id", "discovery"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"{path}: '{key}' is required (or 'issuer' for the discovery)")
        if not secret:
            raise ValueError(f"{path}: 'client_secret' or 'client_secret_file' is required")
        role = data.get("default_role")  # none unless asked for: the provider knows more than the lab
        data["default_role"] = None if role in ("", "none") else role
        roles = data.get("roles", {})
        for name in [data["default_role"], *roles]:
            if name is not None and name not in ROLES:
                raise ValueError(f"{path}: no role '{name}': one of {', '.join(ROLES)}")
        return cls(client_secret=secret, **data)

    def metadata(self) -> dict:
        """The discovery document when it is a local file (else authlib fetches it at first use)."""
        if self.discovery.startswith(("https://", "http://")):
            return {}
        return json.loads(Path(self.discovery).read_text())

    def name(self, claims: dict) -> str | None:
        """The user name the claims give; None without one, or when it is an email address the
        provider has not verified (anyone may put any address on an account at many providers)."""
        name = claims.get(self.username_claim)
        if not isinstance(name, str) or not name:
            return None
        if self.username_claim == "email" and claims.get("email_verified") not in (True, "true"):
            return None  # some providers send the flag as a string
        return name

    def user(self, claims: dict) -> User | None:
        """The user the provider's claims name, with the highest role they are given (by name or
        group), else the default role; None without a (verified) name or without a role."""
        name = self.name(claims)
        if name is None:
            return None
        groups = claims.get(self.groups_claim) or []
        groups = frozenset(str(x) for x in (groups if isinstance(groups, list) else [groups]))
        mine = {name} | {f"group:{x}" for x in groups}
        given = [role for role in ROLES if mine & set(self.roles.get(role, []))]
        role = given[-1] if given else self.default_role
        return None if role is None else User(name, role, groups)


def oidc_client(app: Flask, settings: OidcSettings):
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    metadata = settings.metadata()
    url = None if metadata else settings.discovery
    return oauth.register(
        "oidc", client_id=settings.client_id, client_secret=settings.client_secret,
        server_metadata_url=url, client_kwargs={"scope": settings.scope}, **metadata,
    )  # fmt: skip


# --------------------------------------------------------------------------------- store access
def read_access(path: str | Path) -> dict[str, frozenset[str]]:
    """store name -> the users and "group:NAME"s that may see it, from a TOML file with a
    [stores] table (stores not named there: every signed-in user)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read the access file {path}: {error}") from error
    stores = data.get("stores")
    if not isinstance(stores, dict) or set(data) != {"stores"}:
        raise ValueError(f"{path}: expected one [stores] table, store name = [users and 'group:NAME's]")
    for name, allowed in stores.items():
        if not isinstance(allowed, list) or not all(isinstance(x, str) for x in allowed):
            raise ValueError(f"{path}: '{name}' must be a list of user names and 'group:NAME's")
    return {name: frozenset(allowed) for name, allowed in stores.items()}


def may_see(access: dict[str, frozenset[str]], user: User | None, store: str) -> bool:
    allowed = access.get(store)
    if allowed is None:
        return True
    return user is not None and bool(allowed & ({user.name} | {f"group:{x}" for x in user.groups}))


# ------------------------------------------------------------------------------- the settings
@dataclass
class AuthSettings:
    """Sign-in for a server: the ways in, who sees which store, where its state is kept."""

    state_dir: Path  # the session key and the sign-in counters (the jobs directory)
    users: UsersFile | None = None
    oidc: OidcSettings | None = None
    access: dict[str, frozenset[str]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time  # of sessions and the sign-in limiter (tests)

    @property
    def configured(self) -> bool:
        return self.oidc is not None or (self.users is not None and bool(self.users.users()))


def session_key(state_dir: Path) -> bytes:
    """The key that signs session cookies: made once, 0600, and read by every worker process (a
    random key per process would sign each user out on every other worker)."""
    path = Path(state_dir) / "session.key"
    private_dir(path.parent)
    if not path.exists():
        # written whole under another name, then linked into place: a process that reads the key
        # never sees a half-written one, and of two processes making one at once, one key wins
        tmp = path.with_name(f".session.key.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode())
        try:
            os.link(tmp, path)  # unlike a rename, never replaces a key another process made
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o): whoever reads it can sign in as anyone; "
                    "chmod 600 it", path, mode)  # fmt: skip
    key = path.read_bytes()
    if len(key) < 32:
        raise ValueError(f"the session key {path} is too short ({len(key)} bytes, 32 at least): "
                         "delete it and a new one is made (which signs everyone out)")  # fmt: skip
    return key


def private_dir(path: Path) -> Path:
    """A directory only this user may enter (0700): the jobs directory holds the session key, the
    audit log, the sign-in counts and rendered views of controlled data."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # the mode of the last part only
    return path


class _Sessions(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:  # Secure whenever the request came by HTTPS
        return request.is_secure or super().get_cookie_secure(app)


def trust_proxy(app: Flask, addresses: list[str]) -> None:
    """Honour X-Forwarded-For/-Proto/-Host only on requests from the reverse proxy's own address:
    anyone else who reaches the port could write those headers too."""
    behind = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    direct = app.wsgi_app

    def wsgi(environ, start_response):
        chosen = behind if environ.get("REMOTE_ADDR") in addresses else direct
        return chosen(environ, start_response)

    app.wsgi_app = wsgi


# ------------------------------------------------------------------------------- the web side
def install(
    app: Flask,
    settings: AuthSettings,
    role_of_output: dict[str, str],
    audit: AuditLog | None = None,
) -> None:
    """Put every route but the static assets behind sign-in. `role_of_output`: callback output
    (Dash's callback_map key) -> the role its requests need (the job actions: compute)."""
    app.secret_key = session_key(settings.state_dir)
    app.session_interface = _Sessions()
    app.config.update(
        SESSION_COOKIE_NAME="explorer_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )  # fmt: skip
    app.extensions["explorer-auth"] = settings
    if audit is not None:
        app.extensions[AUDIT_KEY] = audit
    limiter = SignInLimiter(private_dir(Path(settings.state_dir) / "sign-in-limits"), settings.clock)
    client = oidc_client(app, settings.oidc) if settings.oidc else None
    app.extensions["explorer-oidc"] = client

    def session_user() -> User | None:
        name, via, since = session.get("user"), session.get("via"), session.get("since")
        if not isinstance(name, str) or not isinstance(since, int | float):
            return None
        if settings.clock() - since > SESSION_HOURS * 3600:  # from sign-in, however busy the session
            return None
        if via == "password" and settings.users is not None:
            if session.get("token") != settings.users.token(name):
                return None  # removed, or a new password since this session began
            return settings.users.user(name)
        if via == "oidc" and client is not None and session.get("role") in ROLES:
            return User(name, session["role"], frozenset(session.get("groups") or ()))
        return None

    @app.before_request
    def guard():
        g.user = session_user()
        path = request.path
        if request.method == "POST" and not same_origin():  # a form another site posts (sign-in CSRF)
            origin = request.headers.get("Origin", "")[:200]
            if limiter.first_in(f"audit:refused:{request.remote_addr}", QUIET_S):  # no log flood
                record("refused", origin=origin, path=path[:200])
            why = f"it comes from {origin}, this server is {request.host[:200]}"
            return (f"Cross-site request refused: {why} (behind a reverse proxy: pass on the Host header, "
                    "or X-Forwarded-Host with --proxy)"), 403
        if is_public(request.url_rule):
            return None
        if g.user is None:
            if request.method == "GET" and not path.startswith("/_"):  # a page: the sign-in form
                return redirect(f"{SIGN_IN}?next={quote(request.full_path.rstrip('?'), safe='')}")
            return "Sign in first.", 401
        if path == "/_dash-update-component" and request.method == "POST":
            try:
                output = (json.loads(request.get_data(cache=True) or b"null") or {}).get("output")
            except (ValueError, RecursionError, AttributeError):
                return None  # malformed: the request guard answers it
            needed = role_of_output.get(output) if isinstance(output, str) else None
            if needed is not None and not g.user.may(needed):
                record("refused", output=output, needs=needed)
                return f"Your role ({g.user.role}) may not do this.", 403
        return None

    @app.after_request
    def private(response):  # what a signed-in user was shown stays out of shared caches
        if not is_public(request.url_rule):
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        return response

    def begin(user: User, via: str) -> None:
        session.clear()
        session.permanent = True
        session.update(user=user.name, via=via, since=settings.clock())
        if via == "password":
            session["token"] = settings.users.token(user.name)
        else:  # the provider's word at sign-in, signed into the cookie for the session's life
            session.update(role=user.role, groups=sorted(user.groups))
        g.user = user
        record("sign-in", via=via, role=user.role)

    @app.route(SIGN_IN, methods=["GET", "POST"])
    def sign_in():
        target = safe_next(request.values.get("next"))
        if request.method == "GET":
            return sign_in_page(settings, target)
        name = request.form.get("name", "")[:64].strip()
        password = request.form.get("password", "")[:1024]
        keys = [f"user:{name.lower()}", f"address:{request.remote_addr}"]
        wait, counted = limiter.attempt(keys)  # counted before the (slow) password check
        if wait > 0:
            if limiter.first_in(f"audit:sign-in-refused:{request.remote_addr}", QUIET_S):  # no log flood
                record("sign-in-refused", user=name, reason="too many failed attempts")
            page = sign_in_page(settings, target, "Too many failed sign-ins: try again later.")
            return page, 429, {"Retry-After": str(int(wait) + 1)}
        user = settings.users.verify(name, password) if settings.users is not None and name else None
        if user is None:
            record("sign-in-failed", user=name, via="password")
            return sign_in_page(settings, target, "Wrong name or password.", name), 401
        limiter.succeeded(keys, counted)
        begin(user, "password")
        return redirect(target)

    @app.route("/auth/sign-out", methods=["POST"])
    def sign_out():
        if g.user is not None:
            record("sign-out")
        session.clear()
        return redirect(SIGN_IN)

    @app.route("/admin")
    def admin():  # behind sign-in like every route; an admin's only
        if not g.user.may("admin"):
            record("refused", page="admin")
            return f"Your role ({g.user.role}) may not see this page.", 403
        return admin_page(settings, app.extensions.get(AUDIT_KEY))

    if client is not None:

        @app.route("/auth/oidc")
        def oidc_start():
            session["next"] = safe_next(request.args.get("next"))
            uri = settings.oidc.redirect_uri or request.url_root + "auth/oidc/callback"
            return client.authorize_redirect(uri)

        @app.route("/auth/oidc/callback")
        def oidc_callback():
            target = safe_next(session.pop("next", None))
            try:
                token = client.authorize_access_token()  # checks state, nonce, the ID token's signature
            except Exception as error:  # the provider's or the browser's error: one line, no trace
                record("sign-in-failed", via="oidc", reason=str(error)[:200])
                return sign_in_page(settings, target, "Single sign-on failed: try again."), 401
            claims = dict(token.get("userinfo") or {})
            user = settings.oidc.user(claims)
            if user is None:
                claim = settings.oidc.username_claim
                reason = "no role for this user" if settings.oidc.name(claims) else f"no verified {claim}"
                record("sign-in-failed", user=str(claims.get(claim))[:100], via="oidc", reason=reason)
                return sign_in_page(settings, target, "This server has no role for your account."), 403
            begin(user, "oidc")
            return redirect(target)


def same_origin() -> bool:
    """Whether a POST came from a page of this server, by the Origin header browsers send with every
    POST (none: not a browser, which carries no one's cookies). SameSite=Lax already keeps the
    session cookie off other sites' POSTs; this also stops them signing a browser in, or out."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    # by host name: another site has another one (ports and schemes are one site to SameSite too)
    return urlparse(origin).hostname == urlparse(request.host_url).hostname


def is_public(rule) -> bool:
    """Whether a request's route is open without sign-in: by the route it matched, not its path
    (/auth/../gene/X matches the page's catch-all route, not a route under /auth/)."""
    return rule is not None and (str(rule.rule).startswith(PUBLIC_PREFIXES) or rule.rule in PUBLIC_PATHS)


def safe_next(value) -> str:
    """Where to go after sign-in: a path of this server only (never another site)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if not value.isprintable() or " " in value:  # browsers drop tabs and newlines: "/\t/x" is "//x"
        return "/"
    return value[:2000]


def admin_page(settings: AuthSettings, audit: AuditLog | None, events: int = 200) -> str:
    """The users (they are changed from the command line: python app.py users ...) and the audit
    log's last events, for an admin."""
    people = settings.users.users() if settings.users else {}
    rows = [f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(entry.get('role')))}</td><td>"
            f"{html.escape(', '.join(entry.get('groups') or []))}</td></tr>"
            for name, entry in sorted(people.items())]  # fmt: skip
    lines: list[str] = []
    if audit is not None and audit.path.is_file():
        with open(audit.path, "rb") as log:
            log.seek(max(log.seek(0, os.SEEK_END) - (events << 9), 0))  # the tail, not the whole log
            lines = log.read().decode(errors="replace").splitlines()[-events:][::-1]
    where = html.escape(str(audit.path)) if audit else "none"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Admin · Personal expression '
        'explorer</title><link rel="stylesheet" href="/assets/style.css"></head><body class="sign-in-page">'
        '<main class="admin"><h1>Users</h1><p>Changed with <code>python app.py users add|remove|reset|set'
        "</code> on the server.</p><table><tr><th>user</th><th>role</th><th>groups</th></tr>"
        f"{''.join(rows)}</table><h1>Audit log</h1><p>{where}, newest first</p><pre>"
        f"{html.escape(chr(10).join(lines))}</pre></main></body></html>"
    )


def sign_in_page(settings: AuthSettings, target: str, error: str | None = None, name: str = "") -> str:
    """The sign-in form, served by the server (its CSS from assets/, no CDN, no script)."""
    parts = []
    if error:
        parts.append(f'<p class="sign-in-error" role="alert">{html.escape(error)}</p>')
    if settings.users is not None:
        parts.append(
            f'<form method="post" action="{SIGN_IN}"><input type="hidden" name="next" '
            f'value="{html.escape(target)}"><label>Name <input name="name" autocomplete="username" '
            f'value="{html.escape(name)}" required autofocus></label><label>Password <input '
            'name="password" type="password" autocomplete="current-password" required></label>'
            '<button type="submit">Sign in</button></form>'
        )
    if settings.oidc is not None:
        label = html.escape(settings.oidc.label)
        parts.append(f'<a class="sign-in-sso" href="/auth/oidc?next={quote(target, safe="")}">'
                     f"Sign in with {label}</a>")  # fmt: skip
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in · Personal expression '
        'explorer</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/assets/style.css"></head><body class="sign-in-page"><main '
        'class="sign-in"><h1>Personal expression explorer</h1><p>This server holds controlled-access '
        f"data: sign in to continue.</p>{''.join(parts)}</main></body></html>"
    )
