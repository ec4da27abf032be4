"""The dashboard: `python app.py [--results DIR ...] [--port 8050] [--workers N] [--debug]`.

Serves linked views of one or more results stores (default: the shipped
data/published and data/demo) with a production WSGI server: gunicorn with N worker
processes of `--threads` threads each (default: one worker per CPU core, up to
MAX_WORKERS), or waitress in this one process with `--workers 1`; `--debug` runs
Dash's development server instead. The workers share what they render through one
view cache on disk (`--cache DIR`, components/view_cache.py). Everything is served by
the server itself: no CDN, no external fonts or scripts. Binds 127.0.0.1 unless told
otherwise; on any other address (or with --sign-in) every route but the static assets needs a
signed-in user (components/auth.py; README: Serving a lab).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dash import Dash, html
from flask import has_request_context
from threadpoolctl import threadpool_limits

import components
from components import auth, export, jobs, navigation, request_guard, users
from components.data import Datasets
from components.view_cache import ViewCache
from compute.errors import InputError
from compute.jobs import JobBoard
from compute.store import ResultsStore

ROOT = Path(__file__).resolve().parent
DEFAULT_STORES = [ROOT / "data" / name for name in ("published", "demo", "demo-alphagenome", "demo-borzoi")]
# the Enformer test-set genes (Sasse et al.'s list), for the test-set subset of any store
TEST_SET_LIST = ROOT / "data" / "published" / "source" / "enformer_test_set_genes.txt"
TITLE = "Personal expression explorer"
SERVER_THREADS = 8  # per process: callbacks are numpy-bound and short, a few threads per core
MAX_WORKERS = 4  # by default; each worker keeps its own caches beside the tables they share
CACHE_MB = 1024
JOB_RUNNER = [sys.executable, "-m", "compute", "jobs", "run"]  # a job's process (compute/run/jobs.py)


def default_store_paths() -> list[Path]:
    return [p for p in DEFAULT_STORES if (p / "manifest.json").is_file()]


def build_layout(signed_in: bool = False) -> html.Div:
    v = components
    return html.Div(
        className="app",
        children=[
            *navigation.layout(),
            html.Header(
                className="topbar",
                children=[
                    html.Div(
                        [
                            html.H1(TITLE),
                            html.P("Does a sequence model explain why people differ?", className="subtitle"),
                        ]
                    ),
                    v.search.layout(),
                    html.Div([navigation.dataset_switcher(), navigation.user_bar()], className="topbar-end")
                    if signed_in
                    else navigation.dataset_switcher(),
                ],
            ),
            navigation.message_banner(),
            jobs.layout(),
            v.gene_filter.layout(),
            html.Main(
                className="grid",
                children=[
                    html.Div(className="row row-top", children=[v.gene_card.layout(), v.volcano.layout()]),
                    html.Div(className="row", children=[v.expression.layout(), v.ism_eqtl.layout()]),
                    html.Div(className="row row-wide", children=[v.locus.layout()]),
                    html.Div(className="row", children=[v.ism_logo.layout(), v.sensitivity.layout()]),
                    html.Div(className="row", children=[v.tss_hist.layout(), v.genotype.layout()]),
                    html.Div(className="row", children=[v.models.layout()]),
                ],
            ),
            html.Footer(
                "Sasse et al. 2023, Nat Genet 55:2060–2064. Published results: GPL-3.0, see data/published.",
                className="footer",
            ),
        ],
    )


def default_jobs_dir() -> Path:
    """Where jobs are recorded between server runs: the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "personal-expression-explorer" / "jobs"


def default_workers() -> int:
    """One server process per CPU core this process may use, at most MAX_WORKERS: most of a gene
    switch is Python holding the GIL (Dash, the HTTP server, building figures), so one process
    uses about one core; on two cores two workers served eight sessions 1.5x the gene switches a
    second of one process (docs/benchmarks.md)."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def create_app(
    store_paths: Sequence[str | Path],
    compute: jobs.ComputeSettings | None = None,
    view_cache: ViewCache | None = None,
    sign_in: auth.AuthSettings | None = None,
    audit: auth.AuditLog | None = None,
) -> Dash:
    """A Dash app over the given results stores (the first is shown first); `compute`: the job
    board and what it may run (None: the page only watches stores, it starts nothing);
    `view_cache`: where rendered views are kept (default: this process's memory only);
    `sign_in`: every route but the static assets behind sign-in, roles, store access (None: open);
    `audit`: where sign-ins, datasets opened, exports and job actions are logged (None: nowhere)."""
    datasets = Datasets(list(store_paths), view_cache, test_set_list=TEST_SET_LIST)
    if sign_in is not None:
        unknown = sorted(set(sign_in.access) - set(datasets.stores))
        if unknown:  # a misspelt name would leave the store it meant open to everyone
            raise InputError(f"the access file names stores this server does not serve: {', '.join(unknown)} "
                             f"(it serves {', '.join(datasets.stores)})")  # fmt: skip
    app = Dash(
        __name__,
        title=TITLE,
        update_title=None,
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        assets_folder=str(ROOT / "assets"),
        suppress_callback_exceptions=False,
        # explicit, not from DASH_* environment variables: the sign-in's role check and the request
        # guard know Dash's routes by these paths, and no other endpoint (MCP) may appear
        url_base_pathname="/",
        enable_mcp=False,
    )
    app.layout = build_layout(signed_in=sign_in is not None)
    if audit is not None:
        app.server.extensions[auth.AUDIT_KEY] = audit
    if sign_in is not None:  # before the request guard: nothing is answered before sign-in
        auth.install(app.server, sign_in, {jobs.ACTION_OUTPUT: "compute"}, audit)
        access = sign_in.access  # outside a request (start-up, warm-up) no store is anyone's
        datasets.access = lambda name: has_request_context() and auth.may_see(
            access, auth.current_user(), name
        )
        navigation.register_user_bar(app)
    request_guard.install(app)
    navigation.register(app, datasets)
    jobs.register(app, datasets, compute)
    for view in components.ALL_VIEWS:
        view.register(app, datasets)
    for group in components.SELECTION_PANEL_GROUPS:
        export.register_selection_views(app, datasets, group)
    for group in components.PATCHED_PANEL_GROUPS:
        export.register_gene_set_panels(app, datasets, group)
    if compute is not None and compute.board is not None:
        compute.board.tick()  # jobs a stopped server left behind resume now
    set_up_before_serving(app)
    app.datasets = datasets  # for tests and benchmarks
    return app


def set_up_before_serving(app: Dash) -> None:
    """Dash's set-up, done now rather than by the first request: Dash marks it done before it has
    listed the page's scripts, so the requests that race the first one were refused the scripts
    (404) and the page stayed blank (seen with two workers: each is a fresh process, and a page's
    scripts are asked for at once)."""
    with app.server.test_request_context("/"):
        app._setup_server()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["users"]:
        return users.main(argv[1:], default_jobs_dir())
    parser = argparse.ArgumentParser(description=f"{TITLE}: a dashboard over results stores.")
    parser.add_argument(
        "--results",
        action="append",
        metavar="DIR",
        help="a results store directory (repeat for several; default: data/published, data/demo)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument(
        "--debug", action="store_true", help="Dash's development server in debug mode (reloader, dev tools)"
    )
    parser.add_argument(
        "--workers", type=int, default=default_workers(),
        help=f"server processes (default: one per CPU core, at most {MAX_WORKERS}: {default_workers()} "
        "here); 1 serves from this process (waitress), more run gunicorn",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=SERVER_THREADS,
        help=f"threads of each server process (default {SERVER_THREADS})",
    )  # fmt: skip
    parser.add_argument(
        "--cache", metavar="DIR", help="the view cache the server processes share (default: views/ in the "
        "jobs directory); entries of a store that changed are never served",
    )  # fmt: skip
    parser.add_argument(
        "--cache-mb", type=int, default=CACHE_MB, help=f"size limit of the view cache (default {CACHE_MB} MB)"
    )
    parser.add_argument(
        "--jobs", metavar="DIR", help="where background jobs are recorded (default: ~/.cache/personal-"
        "expression-explorer/jobs); they outlive the server",
    )  # fmt: skip
    parser.add_argument("--no-jobs", action="store_true", help="start no computation from the page")
    parser.add_argument(
        "--allow-compute", action="store_true",
        help="let the page start, resume and stop a whole precompute of a dataset's cohort",
    )  # fmt: skip
    parser.add_argument("--device", default="auto", help="device of the jobs: auto, cpu, cuda, cuda:N")
    lab = parser.add_argument_group(
        "serving a lab", "sign-in is required on any --host but loopback, and with any of these options; "
        "users are managed with: python app.py users add|remove|reset|set|list (see README: Serving a lab)",
    )  # fmt: skip
    lab.add_argument("--sign-in", action="store_true", help="require sign-in on a loopback --host too")
    lab.add_argument(
        "--users", metavar="FILE", help="the users file (default: ~/.config/personal-expression-explorer/"
        "users.json, as `python app.py users add` writes it)",
    )  # fmt: skip
    lab.add_argument("--oidc", metavar="FILE", help="OpenID Connect single sign-on settings (TOML)")
    lab.add_argument(
        "--access", metavar="FILE", help="TOML: stores open to some users or groups only (hidden from others)"
    )
    lab.add_argument("--audit-log", metavar="FILE", help="JSON lines of who did what (default: audit.jsonl "
                     "in the jobs directory)")  # fmt: skip
    lab.add_argument(
        "--proxy", metavar="ADDR", action="append",
        help="address of a reverse proxy in front (repeat for several): its X-Forwarded-For/-Proto/-Host are "
        "trusted, no one else's",
    )  # fmt: skip
    lab.add_argument("--certfile", metavar="FILE", help="serve HTTPS with this certificate (gunicorn)")
    lab.add_argument("--keyfile", metavar="FILE", help="the certificate's private key")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.results] if args.results else default_store_paths()
    if not paths:
        print("error: no results store found; build data/published or pass --results DIR", file=sys.stderr)
        return 2
    if args.workers < 1 or args.threads < 1 or args.cache_mb < 1:
        print("error: --workers, --threads and --cache-mb must be at least 1", file=sys.stderr)
        return 2
    try:  # compared with each request's address as written: a host name would never match
        proxies = [str(ipaddress.ip_address(value.strip("[]"))) for value in args.proxy or ()]
    except ValueError as error:
        print(f"error: --proxy takes the proxy's IP address as requests come from it (such as 127.0.0.1 "
              f"or ::1), not a host name: {error}", file=sys.stderr)  # fmt: skip
        return 2
    jobs_dir = Path(args.jobs) if args.jobs else default_jobs_dir()
    cache_dir = Path(args.cache) if args.cache else jobs_dir / "views"
    tls = bool(args.certfile or args.keyfile)
    if tls and not (args.certfile and args.keyfile):
        print("error: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    if tls and args.debug:
        print("error: the development server (--debug) does not serve HTTPS", file=sys.stderr)
        return 2
    if args.debug and not is_loopback(args.host):  # its debugger runs code sent to it
        print("error: --debug serves loopback only (Dash's development server with its debugger)",
              file=sys.stderr)  # fmt: skip
        return 2
    # a proxy in front makes a loopback address reachable from anywhere: sign-in too
    explicit = [args.sign_in, args.users, args.oidc, args.access, args.proxy]
    sign_in = None
    if any(explicit) or not is_loopback(args.host):
        try:
            users_path = Path(args.users) if args.users else users.default_users_file()
            # single sign-on alone offers no password form, unless a users file is there too
            with_users = args.users or not args.oidc or users_path.exists()
            sign_in = auth.AuthSettings(
                state_dir=jobs_dir,
                users=users.UsersFile(users_path) if with_users else None,
                oidc=auth.OidcSettings.read(args.oidc) if args.oidc else None,
                access=auth.read_access(args.access) if args.access else {},
            )
            configured = sign_in.configured
        except (ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not configured:
            why = (f"--host {args.host} reaches beyond this machine" if not is_loopback(args.host)
                   else "sign-in is asked for (--sign-in, --users, --oidc, --access or --proxy)")  # fmt: skip
            print(
                f"error: {why}, so the server serves its data to signed-in users only, and no way to sign in "
                "is configured. Add a user (python app.py users add NAME --role viewer; then --users FILE "
                f"if not the default {users.default_users_file()}) or single sign-on (--oidc FILE); see "
                "README: Serving a lab. 127.0.0.1, the default, serves this machine only, without sign-in.",
                file=sys.stderr,
            )
            return 2
    auth.private_dir(jobs_dir)  # 0700: it holds the session key, the audit log and rendered views
    audit = auth.AuditLog(Path(args.audit_log) if args.audit_log else jobs_dir / "audit.jsonl")
    if sign_in is not None:
        auth.session_key(jobs_dir)  # made once here, before the workers that all read it

    def make_app() -> Dash:
        # the views' linear algebra is one small matrix-vector product at a time: BLAS worker threads
        # would only spin between calls, taking CPU from the requests
        threadpool_limits(limits=1, user_api="blas")
        compute = None
        if not args.no_jobs:
            board = JobBoard(jobs_dir, runner=JOB_RUNNER)
            compute = jobs.ComputeSettings(board, allow_precompute=args.allow_compute, device=args.device)
        views = ViewCache(cache_dir, size_limit=args.cache_mb << 20, shared=args.workers > 1)
        app = create_app(paths, compute, views, sign_in, audit)
        if proxies:
            auth.trust_proxy(app.server, proxies)
        app.datasets.warm()  # the tables every first page reads, before the first request
        return app

    try:
        for path in paths:  # a wrong path is one line here, not a worker failing to boot
            ResultsStore(path)
        unknown = sorted(set(sign_in.access if sign_in else ()) - set(Datasets.names_of(paths)))
        if unknown:  # create_app checks too; here it is one line before anything is read
            raise InputError(f"the access file names stores this server does not serve: {', '.join(unknown)}")
        # built and warmed before the port opens: the server answers once it can serve a full page
        app = make_app()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = ", ".join(app.datasets.stores)
    server = f"{args.threads} threads"
    if args.debug:
        server = "Dash development server"
    elif args.workers > 1 or tls:  # waitress does not serve HTTPS: gunicorn does, with one worker too
        server = f"{args.workers} worker processes x {args.threads} threads"
    scheme = "https" if tls else "http"
    who = "sign-in required" if sign_in is not None else "no sign-in: this machine only"
    print(f"{TITLE}: {scheme}://{args.host}:{args.port}/  datasets: {names}  ({server}; {who})", flush=True)
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True)
    elif args.workers > 1 or tls:
        serve_workers(app, args.host, args.port, args.workers, args.threads, args.certfile, args.keyfile)
    else:
        serve(app, args.host, args.port, args.threads)
    return 0


def serve(app: Dash, host: str, port: int, threads: int = 8) -> None:
    """The production server in this process (waitress): a fixed thread pool, timeouts on idle
    and half-sent requests, bounded request sizes; no debugger, no reloader."""
    from waitress import serve as waitress_serve

    # waitress warns on every request that has to wait for a thread: under load (a class, a talk)
    # that is a line per request, and the logging alone took ~5% of the server's time
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress_serve(
        app.server, host=host, port=port, threads=max(threads, 1), channel_timeout=60,
        max_request_body_size=request_guard.MAX_BODY, max_request_header_size=64 * 1024,
        connection_limit=200, ident="personal-expression-explorer",
    )  # fmt: skip


def serve_workers(
    app: Dash, host: str, port: int, workers: int, threads: int,
    certfile: str | None = None, keyfile: str | None = None,
) -> None:  # fmt: skip
    """The production server over several processes (gunicorn, threaded workers), forked from this
    one once `app` has read its stores: every worker can serve a full page as soon as the port
    opens, and the tables read are shared until written. A worker that hangs past the timeout is
    replaced, and each is replaced after a bounded number of requests (memory stays flat)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers, "worker_class": "gthread", "threads": threads,
                "timeout": 60, "graceful_timeout": 20, "keepalive": 5,
                "max_requests": 50_000, "max_requests_jitter": 5_000,
                "limit_request_line": 8190, "limit_request_fields": 100, "limit_request_field_size": 16_384,
                "worker_connections": 200, "preload_app": True, "accesslog": None, "loglevel": "warning",
                "proc_name": "personal-expression-explorer", "control_socket_disable": True,
                "post_fork": after_fork,
            }  # fmt: skip
            if certfile:
                settings.update(certfile=certfile, keyfile=keyfile)
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return app.server

    def after_fork(_server, _worker) -> None:
        die_with_master()
        app.datasets.after_fork()

    Server().run()


def die_with_master() -> None:
    """In a gunicorn worker: killed as soon as its master dies, even by SIGKILL
    (otherwise orphaned workers keep the port for seconds and a restarted server cannot bind it).
    The job processes a worker starts are not affected: a forked child does not inherit this."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # elsewhere gunicorn's own check stops orphans within a few seconds


if __name__ == "__main__":
    sys.exit(main())
