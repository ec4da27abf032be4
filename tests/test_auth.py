"""Sign-in on a lab server (components/auth.py, components/users.py): every route but the static
assets answers 401 or the sign-in page without a session, a viewer's forged job request is refused,
a store open to one user does not exist for another, wrong passwords are refused past a limit, and
the audit log records each event. Flask's test client on create_app; no server, no sleep."""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

from app import create_app, default_store_paths, main
from benchmarks.bench_load import outputs_of
from components import auth, jobs
from components.users import UsersFile
from compute.errors import InputError
from compute.jobs import JobBoard

PASSWORD = "correct horse battery staple"
PEOPLE = {"alice": "viewer", "bob": "viewer", "carol": "compute"}
SECRETS = [b"DDX11", b"ENSG", b"published", b"demo", b"genotype", b"person"]  # none before sign-in
RTN4R = "ENSG00000040608"  # a demo gene


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> UsersFile:
    users = UsersFile(tmp_path_factory.mktemp("users") / "users.json")
    for name, role in PEOPLE.items():
        users.add(name, PASSWORD, role, ["dua"] if name == "bob" else ())
    return users


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_app(tmp: Path, users: UsersFile, compute: jobs.ComputeSettings | None = None, **settings):
    """The shipped stores (published, demo, demo-alphagenome, demo-borzoi) behind sign-in; `published`
    open to bob (group dua) only."""
    access = {"published": frozenset({"group:dua"})}
    sign_in = auth.AuthSettings(state_dir=tmp, users=users, access=access, **settings)
    audit_log = auth.AuditLog(tmp / "audit.jsonl")
    return create_app(default_store_paths(), compute, sign_in=sign_in, audit=audit_log)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, users_file):
    tmp = tmp_path_factory.mktemp("lab")
    board = JobBoard(tmp / "jobs", runner=[sys.executable, "-c", "pass"])  # a job's process does nothing
    app = make_app(tmp, users_file, jobs.ComputeSettings(board, allow_precompute=True, device="cpu"))
    return app, board, tmp


def sign_in(app, name: str, password: str = PASSWORD, **request):
    http = app.server.test_client()
    response = http.post("/auth/sign-in", data={"name": name, "password": password, "next": "/gene/RTN4R"},
                         **request)  # fmt: skip
    assert response.status_code == 302, response.data[:300]
    return http


def audit(tmp: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp / "audit.jsonl").read_text().splitlines()]


def callback(http, app, output: str, values: dict, changed: str | None = None):
    """A callback request as the page would send it: `values` by 'id.property' (inputs and state),
    a pattern-matching input as the list of its matches."""
    spec = app.callback_map[output]

    def entry(item):
        key = f"{item['id']}.{item['property']}"
        if item["id"].startswith("{"):
            return values.get(key, [])
        return {"id": item["id"], "property": item["property"], "value": values.get(key)}

    body = {
        "output": output, "outputs": outputs_of(output),
        "inputs": [entry(i) for i in spec["inputs"]], "state": [entry(s) for s in spec.get("state", [])],
        "changedPropIds": [changed or next(iter(values))],
    }  # fmt: skip
    return http.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def output_of(app, first_input: str, writes: str = "") -> str:
    """The callback_map key of the callback whose first input is `first_input` ('id.property') and
    whose outputs include `writes`."""
    return next(key for key, cb in app.callback_map.items() if writes in key and cb["inputs"]
                and f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}" == first_input)  # fmt: skip


def sample_path(rule) -> str:
    """A URL of a route: every variable part filled with a plausible value."""
    path = str(rule.rule).replace("<path:path>", "gene/DDX11")
    for part in ("<path:filename>", "<string:package_name>", "<path:fingerprinted_path>"):
        path = path.replace(part, "x")
    assert "<" not in path, path
    return path


# ------------------------------------------------------------------------------------- the walls
def test_every_route_answers_401_or_the_sign_in_page_without_a_session(lab):
    app, _, _ = lab
    http = app.server.test_client()
    search = output_of(app, "search-dropdown.search_value")
    body = json.dumps({"output": search, "outputs": outputs_of(search),
                       "inputs": [{"id": "search-dropdown", "property": "search_value", "value": "DDX"}],
                       "state": [{"id": "app-selection", "property": "data", "value": {"dataset": "demo"}}],
                       "changedPropIds": ["search-dropdown.search_value"]})  # fmt: skip
    public, walked = [], 0
    for rule in app.server.url_map.iter_rules():
        path = sample_path(rule)
        if auth.is_public(rule):
            public.append(str(rule.rule))
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"} | {"GET", "POST"}):  # the others' too
            response = http.open(path, method=method, data=body, content_type="application/json")
            walked += 1
            if response.status_code == 302:
                assert response.headers["Location"].startswith(auth.SIGN_IN), (method, path)
            else:
                assert response.status_code == 401, (method, path, response.status_code)
            data = response.data.replace(path.encode(), b"").replace(quote(path, safe="").encode(), b"")
            assert not [s for s in SECRETS if s in data], (method, path, response.data[:300])  # but its path
    assert walked >= 14  # the page, its catch-all, layout, dependencies, callbacks, ...
    # what stays open holds no data: the static assets, the sign-in itself
    assert sorted(public) == sorted(["/assets/<path:filename>", "/_favicon.ico", auth.SIGN_IN,
                                     "/auth/sign-out", "/_dash-component-suites/<string:package_name>/"
                                     "<path:fingerprinted_path>"])  # fmt: skip
    page = http.get(auth.SIGN_IN + "?next=/gene/DDX11")
    assert page.status_code == 200 and b'type="password"' in page.data and b"/assets/style.css" in page.data
    assert not [s for s in SECRETS if s in page.data.replace(b"/gene/DDX11", b"")]
    assert http.get("/assets/style.css").status_code == 200
    assert http.get("/gene/DDX11").headers["Location"] == auth.SIGN_IN + "?next=%2Fgene%2FDDX11"
    for sneaky in ("/auth/../gene/DDX11", "/assets/../_dash-layout", "/auth/sign-in/../../_dash-layout"):
        assert http.get(sneaky).status_code in (302, 401, 404), sneaky  # never the page or its layout


def test_dash_routes_stay_where_the_guards_look_whatever_the_environment(tmp_path, users_file, monkeypatch):
    monkeypatch.setenv("DASH_URL_BASE_PATHNAME", "/moved/")
    monkeypatch.setenv("DASH_MCP_ENABLED", "true")
    app = make_app(tmp_path, users_file)
    rules = {str(rule.rule) for rule in app.server.url_map.iter_rules()}
    assert "/_dash-update-component" in rules and not [r for r in rules if "moved" in r or "mcp" in r]
    http = sign_in(app, "alice")
    assert start_precompute(http, app).status_code == 403  # the role check still sees the callback


def test_a_signed_in_user_gets_the_page_in_a_httponly_samesite_cookie(lab):
    app, _, _ = lab
    http = sign_in(app, "alice")
    cookie = http.get_cookie("explorer_session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    page = http.get("/gene/RTN4R")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert http.get("/_dash-layout").status_code == 200 and http.get("/_dash-dependencies").status_code == 200
    secure = sign_in(app, "alice", base_url="https://lab.example")
    assert secure.get_cookie("explorer_session", domain="lab.example").secure  # Secure under HTTPS
    assert http.post("/auth/sign-out").headers["Location"] == auth.SIGN_IN
    assert http.get("/_dash-layout").status_code == 401  # signed out


def test_a_forged_cookie_a_reset_a_removal_and_twelve_hours_each_sign_out(tmp_path):
    users, clock = UsersFile(tmp_path / "users.json"), Clock()
    users.add("dave", PASSWORD, "viewer")
    app = make_app(tmp_path, users, clock=clock)
    http = sign_in(app, "dave")
    clock.now += auth.SESSION_HOURS * 3600 - 1
    assert http.get("/_dash-layout").status_code == 200
    clock.now += 2  # however busy the session was: twelve hours from sign-in
    assert http.get("/_dash-layout").status_code == 401
    http = sign_in(app, "dave")
    forged = app.server.test_client()
    forged.set_cookie("explorer_session", '{"user": "dave", "via": "password"}')
    assert forged.get("/_dash-layout").status_code == 401
    users.reset("dave", PASSWORD + "!")
    assert http.get("/_dash-layout").status_code == 401  # a session from before the new password
    http = sign_in(app, "dave", PASSWORD + "!")
    users.remove("dave")
    assert http.get("/_dash-layout").status_code == 401


def test_the_next_page_after_sign_in_is_on_this_server_and_the_form_from_it(lab):
    app, _, _ = lab
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        http = app.server.test_client()
        response = http.post("/auth/sign-in", data={"name": "alice", "password": PASSWORD, "next": target})
        assert response.headers["Location"] == "/", target
    assert auth.safe_next("/gene/DDX11?dataset=demo") == "/gene/DDX11?dataset=demo"
    for origin, status in (("https://evil.example", 403), ("null", 403), ("http://localhost", 302)):
        response = app.server.test_client().post(
            "/auth/sign-in", data={"name": "alice", "password": PASSWORD}, headers={"Origin": origin}
        )
        assert response.status_code == status, origin  # another site cannot sign a browser in
    assert auth.safe_next("/\t/evil.example") == "/" and auth.safe_next("/\n/evil.example") == "/"


# ------------------------------------------------------------------------------------------ roles
def start_precompute(http, app, dataset: str = "demo"):
    return callback(http, app, jobs.ACTION_OUTPUT, {"jobs-start.n_clicks": 1, "jobs-compute.n_clicks": 0,
                    "jobs-stop.n_clicks": 0, "app-selection.data": {"dataset": dataset}})  # fmt: skip


def test_a_viewers_forged_job_request_is_refused_and_a_compute_users_is_not(lab):
    app, board, tmp = lab
    viewer = sign_in(app, "alice")
    response = start_precompute(viewer, app)
    assert response.status_code == 403 and not board.jobs()
    stop = {"jobs-stop.n_clicks": 1, "app-selection.data": {"dataset": "demo"}}
    assert callback(viewer, app, jobs.ACTION_OUTPUT, stop, "jobs-stop.n_clicks").status_code == 403
    # the page shows a viewer no job buttons (the server refuses them anyway)
    poll = callback(viewer, app, output_of(app, "jobs-poll.n_intervals"),
                    {"jobs-poll.n_intervals": 1, "app-dataset.data": "demo"})  # fmt: skip
    assert "jobs-controls hidden" in poll.get_data(as_text=True)
    assert any(e["event"] == "refused" and e["user"] == "alice" for e in audit(tmp))

    compute = sign_in(app, "carol")
    response = start_precompute(compute, app)
    assert response.status_code == 200 and "Precompute job" in response.get_data(as_text=True)
    started = board.jobs()
    assert [j.kind for j in started] == ["precompute"]
    response = callback(compute, app, jobs.ACTION_OUTPUT, stop, "jobs-stop.n_clicks")
    assert "Stopped 1" in response.get_data(as_text=True)
    events = [(e["event"], e["user"]) for e in audit(tmp) if e["event"].startswith("job-")]
    assert ("job-start", "carol") in events and ("job-cancel", "carol") in events


def test_a_viewer_sees_jobs_without_their_cancel_buttons():
    from compute.jobs import Job

    running = Job("abc", "gene", "/store", ["G1"], state="running")
    assert "jobs-cancel" in str(jobs.job_row(running, may_cancel=True))
    assert "jobs-cancel" not in str(jobs.job_row(running, may_cancel=False))


def test_the_admin_page_shows_users_and_the_audit_log_to_admins_only(tmp_path):
    users = UsersFile(tmp_path / "users.json")
    users.add("root", PASSWORD, "admin")
    users.add("carol", PASSWORD, "compute", ["gpu"])
    app = make_app(tmp_path, users)
    assert app.server.test_client().get("/admin").headers["Location"].startswith(auth.SIGN_IN)
    assert sign_in(app, "carol").get("/admin").status_code == 403
    page = sign_in(app, "root").get("/admin").get_data(as_text=True)
    assert "<td>carol</td><td>compute</td><td>gpu</td>" in page and "$argon2" not in page
    newest = page.index("&quot;event&quot;: &quot;sign-in&quot;, &quot;user&quot;: &quot;root&quot;")
    assert newest < page.index("&quot;event&quot;: &quot;refused&quot;")  # newest first, escaped


def test_roles_from_the_users_file_and_their_order():
    from components.users import User

    viewer, computer, admin = User("a", "viewer"), User("b", "compute"), User("c", "admin")
    assert not viewer.may("compute") and computer.may("compute") and admin.may("compute")
    assert viewer.may("viewer") and not computer.may("admin") and admin.may("admin")


# ---------------------------------------------------------------------------------- store access
def test_a_store_open_to_one_group_does_not_exist_for_anyone_else(lab):
    app, _, _ = lab
    alice, bob = sign_in(app, "alice"), sign_in(app, "bob")
    read_url = output_of(app, "url.pathname", "app-dataset.data")
    ddx11 = {"url.pathname": "/gene/DDX11", "url.search": "?dataset=published"}
    # the URL: the same answer as for a store that is not there, and no link to it
    text = callback(alice, app, read_url, ddx11).get_data(as_text=True)
    assert "no dataset called 'published'" in text
    assert "Available: demo, demo-alphagenome, demo-borzoi." in text
    assert "DDX11" not in text.replace("/gene/DDX11", "")
    assert '"dataset": "demo"' in text.replace('":"', '": "')  # shown the store she may see instead
    assert "ENSG00000013573" in callback(bob, app, read_url, ddx11).get_data(as_text=True)  # DDX11's ID
    # the switcher (answered with the URL's selection)
    open_stores = ["demo", "demo-alphagenome", "demo-borzoi"]
    for who, expected in ((alice, open_stores), (bob, ["published", *open_stores])):
        url = {"url.pathname": "/gene/RTN4R", "url.search": "?dataset=demo"}
        shown = callback(who, app, read_url, url).get_json()
        names = [c["props"]["children"] for c in shown["response"]["app-datasets"]["children"][1:]]
        assert names == expected
    # search, a callback over the store's genes, and an export, each asked with a forged selection
    published = {"dataset": "published", "gene_id": "ENSG00000013573"}
    search = output_of(app, "search-dropdown.search_value")
    asks = [  # a callback, what it is sent, what it shows of the store
        (search, {"search-dropdown.search_value": "DDX", "app-selection.data": {"dataset": "published"}},
         b"DDX11"),
        (output_of(app, "app-selection.data", "card-content"), {"app-selection.data": published}, b"DDX11"),
        (output_of(app, "app-selection.data", "volcano-graph"),
         {"app-selection.data": {"dataset": "published"}, "filter-subset.value": "all"}, b"ENSG"),
        ("locus-download.data", {"locus-csv.n_clicks": 1, "app-selection.data": published}, b"chr12:"),
        (output_of(app, "app-dataset.data", "filter-count"), {"app-dataset.data": "published"}, b"6,820"),
    ]  # fmt: skip
    for output, values, shows in asks:
        refused = callback(alice, app, output, values)
        assert refused.status_code in (200, 204), (output, refused.status_code)
        assert shows not in refused.data and b"ENSG" not in refused.data, (output, refused.data[:300])
        shown = callback(bob, app, output, values)  # the same request shows bob the store
        assert shown.status_code == 200 and shows in shown.data, (output, shown.data[:300])
    assert "DDX11" in callback(bob, app, search, asks[0][1]).get_data(as_text=True)
    # and nothing names it outside a request (start-up, warm-up): the server's own code uses .stores
    assert app.datasets.names == [] and set(app.datasets.stores) == {"published", *open_stores}


def test_a_user_who_may_see_no_store_is_told_so(tmp_path, users_file):
    bobs = {name: frozenset({"bob"}) for name in ("published", "demo", "demo-alphagenome", "demo-borzoi")}
    app = create_app(default_store_paths(), sign_in=auth.AuthSettings(tmp_path, users_file, access=bobs))
    alice = sign_in(app, "alice")
    read_url = output_of(app, "url.pathname", "app-dataset.data")
    answer = callback(alice, app, read_url, {"url.pathname": "/gene/RTN4R", "url.search": "?dataset=demo"})
    assert answer.status_code == 200 and "No dataset on this server is open to you" in answer.get_data(True)
    assert b"ENSG" not in answer.data and b"RTN4R" not in answer.data.replace(b"/gene/RTN4R", b"")
    assert "app-datasets" not in answer.get_json()["response"]  # no switcher: nothing to show


def test_an_access_file_is_read_strictly(tmp_path, users_file):
    path = tmp_path / "access.toml"
    path.write_text('[stores]\npublished = ["bob", "group:dua"]\n')
    assert auth.read_access(path) == {"published": frozenset({"bob", "group:dua"})}
    for bad in ('published = ["bob"]\n', '[stores]\npublished = "bob"\n', "[stores\n"):
        path.write_text(bad)
        with pytest.raises(ValueError):
            auth.read_access(path)
    with pytest.raises(InputError, match="does not serve: pubished"):  # a misspelt store: not left open
        sign_in_settings = auth.AuthSettings(tmp_path, users_file, access={"pubished": frozenset({"bob"})})
        create_app(default_store_paths(), sign_in=sign_in_settings)


# --------------------------------------------------------------------------------- rate limiting
def test_repeated_wrong_passwords_are_refused_for_that_user_then_taken_again(tmp_path, users_file):
    clock = Clock()
    app = make_app(tmp_path, users_file, clock=clock)
    http = app.server.test_client()

    def attempt(name: str, password: str, address: str = "10.0.0.7"):
        return http.post("/auth/sign-in", data={"name": name, "password": password},
                         environ_base={"REMOTE_ADDR": address})  # fmt: skip

    for _ in range(auth.MAX_USER_FAILURES):
        assert attempt("alice", "wrong password!").status_code == 401
    refused = attempt("alice", PASSWORD)  # even the right password, until the window passes
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == auth.WINDOW_S + 1
    assert attempt("alice", PASSWORD, "10.0.0.8").status_code == 429  # per user, from anywhere
    assert attempt("bob", PASSWORD).status_code == 302  # another user from that address is not
    again = attempt('<b>"x', "wrong password!").get_data(as_text=True)  # the name kept, escaped
    assert 'value="&lt;b&gt;&quot;x"' in again and "<b>" not in again
    clock.now += auth.WINDOW_S + 1
    assert attempt("alice", PASSWORD).status_code == 302
    events = [e["event"] for e in audit(tmp_path) if e["user"] == "alice"]  # the name tried, before sign-in
    assert events == ["sign-in-failed"] * auth.MAX_USER_FAILURES + ["sign-in-refused"] * 2 + ["sign-in"]


def test_an_address_trying_many_names_is_refused(tmp_path, users_file):
    limiter = auth.SignInLimiter(tmp_path / "limits", Clock())
    keys = [f"user:u{k}" for k in range(auth.MAX_ADDRESS_FAILURES)]
    for key in keys:
        assert limiter.attempt([key, "address:10.0.0.9"])[0] == 0
    assert limiter.wait(["user:someone", "address:10.0.0.9"]) == auth.WINDOW_S
    assert limiter.wait(["user:someone", "address:10.0.0.10"]) == 0
    # the counts are on disk: another process (a gunicorn worker) opening the directory sees them
    assert auth.SignInLimiter(tmp_path / "limits", limiter.clock).wait(["address:10.0.0.9"]) > 0


def test_a_locked_name_or_address_is_unlocked_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from app import default_jobs_dir

    here = ["--jobs", str(tmp_path / "jobs")]
    for jobs_dir, where in ((tmp_path / "jobs", here), (default_jobs_dir(), [])):
        limiter = auth.SignInLimiter(jobs_dir / "sign-in-limits", Clock())
        for _ in range(auth.MAX_USER_FAILURES):
            limiter.attempt(["user:alice", "address:10.0.0.1"])
        for k in range(auth.MAX_ADDRESS_FAILURES):
            limiter.attempt([f"user:u{k}", "address:10.0.0.9"])
        assert limiter.wait(["user:alice"]) > 0 and limiter.wait(["address:10.0.0.9"]) > 0
        assert main(["users", "unlock", "Alice", *where]) == 0  # names are counted case-blind
        assert "Alice may sign in again" in capsys.readouterr().out
        assert limiter.wait(["user:alice"]) == 0 and limiter.wait(["address:10.0.0.9"]) > 0
        assert main(["users", "unlock", "10.0.0.9", *where]) == 0
        assert limiter.wait(["user:alice", "address:10.0.0.9"]) == 0
        assert main(["users", "unlock", "bob", *where]) == 0
        assert "bob was not locked" in capsys.readouterr().out
    assert main(["users", "unlock", "bob", "--jobs", str(tmp_path / "never")]) == 0


def test_attempts_in_flight_are_counted_before_their_passwords_are_checked(tmp_path):
    limiter = auth.SignInLimiter(tmp_path / "limits", Clock())
    keys = ["user:alice", "address:10.0.0.9"]
    # attempts whose passwords are still being checked: counted already, so the next is refused
    answers = [limiter.attempt(keys)[0] for _ in range(auth.MAX_USER_FAILURES + 3)]
    assert answers == [0] * auth.MAX_USER_FAILURES + [auth.WINDOW_S] * 3
    # a right password takes back its own attempt from the address, and clears the user's
    limiter = auth.SignInLimiter(tmp_path / "other", Clock())
    _, when = limiter.attempt(keys)
    limiter.attempt(["user:bob", "address:10.0.0.9"])
    limiter.succeeded(keys, when)
    assert limiter.cache.get("user:alice") is None and len(limiter.cache.get("address:10.0.0.9")) == 1


def test_parallel_sign_ins_past_the_limit_are_refused_while_the_first_are_checked(tmp_path, monkeypatch):
    """Requests in threads, each held in a (mocked, slow) password check until all have been
    answered or are in the check: only MAX_USER_FAILURES get there, the others are answered 429."""
    import queue
    import threading

    users = UsersFile(tmp_path / "users.json")
    users.add("alice", PASSWORD, "viewer")
    app = make_app(tmp_path, users, clock=Clock())
    reached, release = queue.Queue(), threading.Event()

    def slow_verify(name, password):
        reached.put("checking")
        assert release.wait(30)
        return None

    monkeypatch.setattr(users, "verify", slow_verify)
    codes = []

    def attempt():
        response = app.server.test_client().post("/auth/sign-in", data={"name": "alice", "password": "x"})
        codes.append(response.status_code)
        reached.put(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(auth.MAX_USER_FAILURES + 3)]
    seen = []
    for thread in threads:  # one at a time: each is in the check or answered before the next starts
        thread.start()
        seen.append(reached.get(timeout=30))
    release.set()
    for thread in threads:
        thread.join(30)
    assert seen == ["checking"] * auth.MAX_USER_FAILURES + [429] * 3
    assert sorted(codes) == [401] * auth.MAX_USER_FAILURES + [429] * 3


# ------------------------------------------------------------------------------------ audit log
def test_the_audit_log_records_sign_ins_datasets_exports_and_sign_outs(tmp_path, users_file):
    app = make_app(tmp_path, users_file)
    http = app.server.test_client()
    http.post("/auth/sign-in", data={"name": "bob", "password": "not it at all"})
    http = sign_in(app, "bob")
    read_url = output_of(app, "url.pathname", "app-dataset.data")
    callback(http, app, read_url, {"url.pathname": "/gene/RTN4R", "url.search": "?dataset=demo"})
    export = {"expression-csv.n_clicks": 1, "app-selection.data": {"dataset": "demo", "gene_id": RTN4R}}
    callback(http, app, "expression-download.data", export)
    http.post("/auth/sign-out")
    entries = audit(tmp_path)
    events = ["sign-in-failed", "sign-in", "dataset-open", "export", "sign-out"]
    assert [e["event"] for e in entries] == events
    assert all(e["user"] == "bob" and e["address"] == "127.0.0.1" for e in entries)
    assert all(e["time"].endswith("+00:00") for e in entries)  # UTC, ISO 8601
    assert entries[2]["dataset"] == "demo" and entries[3]["gene"] == RTN4R
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600


def test_refusals_anyone_can_cause_are_logged_once_a_minute_per_address(tmp_path, users_file):
    clock = Clock()
    app = make_app(tmp_path, users_file, clock=clock)
    http = app.server.test_client()

    def post(address: str, **changes):
        form = {"name": "alice", "password": "wrong password!"} | changes
        return http.post("/auth/sign-in", data=form, environ_base={"REMOTE_ADDR": address},
                         headers={"Origin": "https://evil.example"} if "evil" in changes else {})  # fmt: skip

    for _ in range(10):
        assert post("10.0.0.7", evil="1").status_code == 403
    assert post("10.0.0.8", evil="1").status_code == 403
    for _ in range(auth.MAX_USER_FAILURES + 10):
        post("10.0.0.7")
    clock.now += auth.QUIET_S
    post("10.0.0.7", evil="1")
    post("10.0.0.7")
    events = [(e["event"], e["address"]) for e in audit(tmp_path)]
    assert events == [("refused", "10.0.0.7"), ("refused", "10.0.0.8")] + [
        ("sign-in-failed", "10.0.0.7")] * auth.MAX_USER_FAILURES + [("sign-in-refused", "10.0.0.7"),
        ("refused", "10.0.0.7"), ("sign-in-refused", "10.0.0.7")]  # fmt: skip


def test_a_gene_put_first_in_a_running_precompute_is_audited(tmp_path, users_file, monkeypatch):
    from flask import g

    from components.users import User

    app = make_app(tmp_path, users_file)
    monkeypatch.setattr(jobs, "run_active", lambda path: True)  # a precompute writes the store
    monkeypatch.setattr(jobs, "input_problems", lambda store, full: [])
    asked = []
    monkeypatch.setattr(jobs, "ask_first", lambda path, gene: asked.append(gene))
    settings = jobs.ComputeSettings(None, device="cpu")
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        g.user = User("carol", "compute")
        assert "goes next" in jobs.request_gene(settings, app.datasets, "demo", RTN4R)
    assert asked == [RTN4R]
    entry = audit(tmp_path)[-1]
    assert (entry["event"], entry["user"], entry["dataset"], entry["genes"]) == (
        "job-priority", "carol", "demo", [RTN4R])  # fmt: skip


def test_forwarded_headers_count_only_from_the_proxy(tmp_path, users_file):
    app = make_app(tmp_path, users_file)
    auth.trust_proxy(app.server, ["10.1.1.1"])
    forwarded = {"X-Forwarded-For": "192.0.2.5", "X-Forwarded-Proto": "https"}
    for proxy, address, secure in (("10.1.1.1", "192.0.2.5", True), ("10.9.9.9", "10.9.9.9", False)):
        http = app.server.test_client()
        http.post("/auth/sign-in", data={"name": "bob", "password": PASSWORD}, headers=forwarded,
                  environ_base={"REMOTE_ADDR": proxy})  # fmt: skip
        assert audit(tmp_path)[-1]["address"] == address
        assert (http.get_cookie("explorer_session", domain="localhost").secure) is secure


# ------------------------------------------------------------------------- the users file, CLI
def test_users_are_managed_from_the_command_line(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "conf" / "users.json")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "erin", "--role", "compute", "--group", "dua", "--users", path,
                 "--password-stdin"]) == 0  # fmt: skip
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    entry = json.loads(Path(path).read_text())["users"]["erin"]
    assert entry["hash"].startswith("$argon2id$") and PASSWORD not in Path(path).read_text()
    users = UsersFile(path)
    assert users.verify("erin", PASSWORD).role == "compute" and users.verify("erin", "wrong") is None
    assert users.verify("nobody", PASSWORD) is None
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["users", "reset", "erin", "--users", path, "--password-stdin"]) == 2
    assert "at least 12" in capsys.readouterr().err
    assert main(["users", "set", "erin", "--role", "viewer", "--users", path]) == 0
    assert main(["users", "list", "--users", path]) == 0
    assert "erin\tviewer\tdua" in capsys.readouterr().out
    assert main(["users", "set", "erin", "--no-groups", "--users", path]) == 0
    assert users.user("erin").groups == frozenset() and users.user("erin").role == "viewer"
    assert main(["users", "add", "erin", "--role", "viewer", "--users", path, "--password-stdin"]) == 2
    assert main(["users", "remove", "erin", "--users", path]) == 0 and users.user("erin") is None


def test_a_user_name_is_matched_whole(tmp_path):
    from components.users import check_name

    assert check_name("alice@example.edu") == "alice@example.edu"
    for bad in ("alice\n", "alice\nbob", "", ".alice", "a" * 65, "al ice"):
        with pytest.raises(ValueError):
            check_name(bad)
    users = UsersFile(tmp_path / "users.json")
    users.add("alice", PASSWORD, "viewer")
    assert users.verify("alice\n", PASSWORD) is None and users.verify("alice", PASSWORD).name == "alice"


# ------------------------------------------------------------------------- start-up refusals
def test_a_non_loopback_host_without_sign_in_is_refused(tmp_path, capsys, monkeypatch, users_file):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    jobs_dir = ["--jobs", str(tmp_path / "jobs"), "--no-jobs"]
    for host in ("0.0.0.0", "192.168.1.10", "::", "lab.example.edu"):
        assert main(["--host", host, *jobs_dir]) == 2
        error = capsys.readouterr().err
        assert f"--host {host}" in error and "python app.py users add" in error and "--oidc FILE" in error
    assert main(["--sign-in", *jobs_dir]) == 2  # asked for on loopback: the same refusal
    assert "sign-in is asked for" in capsys.readouterr().err
    assert main(["--proxy", "127.0.0.1", *jobs_dir]) == 2  # behind a proxy loopback is not private
    assert "sign-in is asked for" in capsys.readouterr().err
    for name in ("localhost", "proxy.example.edu", "10.0.0.0/8"):  # would never equal a request's address
        assert main(["--proxy", "127.0.0.1", "--proxy", name, *jobs_dir]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "--proxy takes the proxy's IP address" in error and name in error
    assert main(["--certfile", "cert.pem", *jobs_dir]) == 2
    assert "go together" in capsys.readouterr().err
    assert main(["--debug", "--host", "0.0.0.0", *jobs_dir]) == 2  # the debugger runs what it is sent
    assert "loopback only" in capsys.readouterr().err
    access = tmp_path / "access.toml"
    access.write_text('[stores]\npubished = ["bob"]\n')
    assert main(["--access", str(access), "--users", str(users_file.path), "--workers", "2", *jobs_dir]) == 2
    assert "does not serve: pubished" in capsys.readouterr().err  # before any worker starts
    assert not (tmp_path / "jobs" / "audit.jsonl").exists()
    from app import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("lab.example.edu")


def test_the_session_key_is_made_once_and_kept_private(tmp_path, caplog):
    state = tmp_path / "jobs"
    key = auth.session_key(state)
    assert len(key) == 64 and auth.session_key(state) == key  # every worker reads the same
    path = state / "session.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and [p.name for p in state.iterdir()] == ["session.key"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o700  # made by it: private
    assert not caplog.records
    path.chmod(0o644)
    assert auth.session_key(state) == key and "readable by others (mode 644)" in caplog.text
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match=f"session key {path} is too short.*delete it"):
        auth.session_key(state)
    path.unlink()
    assert auth.session_key(state) != key  # a new key: everyone signed out


def test_the_jobs_directory_sign_in_counts_and_view_cache_are_private(tmp_path, users_file, capsys):
    from components.view_cache import ViewCache

    make_app(tmp_path / "state", users_file)
    for made in ("state", "state/sign-in-limits"):
        assert stat.S_IMODE((tmp_path / made).stat().st_mode) == 0o700, made
    ViewCache(tmp_path / "views")
    assert stat.S_IMODE((tmp_path / "views").stat().st_mode) == 0o700
    jobs_dir = tmp_path / "jobs"  # as the server makes it, before anything is written there
    assert main(["--jobs", str(jobs_dir), "--no-jobs", "--results", str(tmp_path / "none")]) == 2
    assert stat.S_IMODE(jobs_dir.stat().st_mode) == 0o700


# ---------------------------------------------------------------------------- OpenID Connect
DISCOVERY = {
    "issuer": "https://idp.example.edu", "authorization_endpoint": "https://idp.example.edu/authorize",
    "token_endpoint": "https://idp.example.edu/token", "jwks_uri": "https://idp.example.edu/jwks",
    "userinfo_endpoint": "https://idp.example.edu/userinfo",
}  # fmt: skip


def oidc_settings(tmp_path: Path, extra: str = "") -> auth.OidcSettings:
    (tmp_path / "openid-configuration.json").write_text(json.dumps(DISCOVERY))
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "oidc.toml").write_text(
        f'discovery = "{tmp_path / "openid-configuration.json"}"\nclient_id = "explorer"\n'
        f'client_secret_file = "secret"\nlabel = "University login"\n{extra}'
    )
    return auth.OidcSettings.read(tmp_path / "oidc.toml")


def test_oidc_settings_are_read_strictly(tmp_path):
    settings = oidc_settings(tmp_path, 'default_role = "none"\n[roles]\ncompute = ["group:gpu"]\n')
    assert settings.client_secret == "s3cret" and settings.default_role is None
    assert settings.metadata()["authorization_endpoint"] == DISCOVERY["authorization_endpoint"]
    path = tmp_path / "other.toml"
    path.write_text('issuer = "https://idp.example.edu/"\nclient_id = "x"\nclient_secret = "y"\n')
    assert auth.OidcSettings.read(path).discovery == "https://idp.example.edu/.well-known/openid-configuration"
    good = 'issuer = "https://i"\nclient_id = "x"\nclient_secret = "y"\n'
    for bad in ('client_id = "x"\nclient_secret = "y"\n', 'issuer = "https://i"\nclient_id = "x"\n',
                good + 'default_role = "god"\n', good + 'client_scret = "z"\n'):  # fmt: skip
        path.write_text(bad)
        with pytest.raises(ValueError):
            auth.OidcSettings.read(path)


def test_oidc_claims_give_the_highest_role_named_else_the_default(tmp_path):
    settings = oidc_settings(tmp_path, '[roles]\ncompute = ["group:gpu"]\nadmin = ["root@example.edu"]\n')
    verified = {"email_verified": True}
    assert settings.default_role is None  # by default only those the file names sign in
    assert settings.user({"email": "a@example.edu", **verified}) is None
    user = settings.user({"email": "b@example.edu", "groups": ["gpu", "dua"], **verified})
    assert user.role == "compute" and user.groups == {"gpu", "dua"}
    assert settings.user({"email": "root@example.edu", "groups": ["gpu"], **verified}).role == "admin"
    assert settings.user({"sub": "no-email"}) is None
    settings = oidc_settings(tmp_path, 'default_role = "viewer"\n[roles]\nadmin = ["root@example.edu"]\n')
    assert settings.user({"email": "a@example.edu", **verified}).role == "viewer"
    # an email address the provider has not verified names no one, not even an admin
    for unverified in ({}, {"email_verified": False}, {"email_verified": "false"}):
        assert settings.user({"email": "root@example.edu", **unverified}) is None
    assert settings.user({"email": "root@example.edu", "email_verified": "true"}).role == "admin"
    settings = oidc_settings(tmp_path, 'username_claim = "preferred_username"\ndefault_role = "viewer"\n')
    assert settings.user({"preferred_username": "pat"}).name == "pat"  # the flag is about email only


def test_oidc_sign_in_redirects_to_the_provider_and_its_answer_signs_in(tmp_path, users_file, monkeypatch):
    oidc = oidc_settings(tmp_path, 'default_role = "none"\n[roles]\ncompute = ["group:gpu"]\n')
    app = make_app(tmp_path, None, oidc=oidc)
    http = app.server.test_client()
    page = http.get(auth.SIGN_IN).get_data(as_text=True)
    assert "Sign in with University login" in page and 'type="password"' not in page
    response = http.get("/auth/oidc?next=/gene/RTN4R")
    url = urlparse(response.headers["Location"])
    query = parse_qs(url.query)
    assert response.status_code == 302 and f"{url.scheme}://{url.netloc}{url.path}" == DISCOVERY[
        "authorization_endpoint"]  # fmt: skip
    assert query["client_id"] == ["explorer"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://localhost/auth/oidc/callback"] and "openid" in query["scope"][0]
    assert query["state"][0] and query["nonce"][0]
    # the provider's answer: authlib checks state, nonce and the ID token (mocked here: no provider)
    client = app.server.extensions["explorer-oidc"]
    claims = {"email": "gpu.person@example.edu", "email_verified": True, "groups": ["gpu"]}
    monkeypatch.setattr(client, "authorize_access_token", lambda: {"userinfo": claims})
    response = http.get("/auth/oidc/callback?code=c&state=" + query["state"][0])
    assert response.headers["Location"] == "/gene/RTN4R"
    assert http.get("/_dash-layout").status_code == 200
    compute = start_precompute(http, app)
    assert compute.status_code == 200  # a compute role (no board here: "This server runs no jobs.")
    # someone the provider knows but this server gives no role
    stranger = app.server.test_client()
    claims = {"email": "stranger@example.edu", "email_verified": True}
    monkeypatch.setattr(client, "authorize_access_token", lambda: {"userinfo": claims})
    assert stranger.get("/auth/oidc/callback?code=c&state=s").status_code == 403
    assert stranger.get("/_dash-layout").status_code == 401
    # a group member whose address the provider has not verified: refused too
    claims = {"email": "gpu.person@example.edu", "email_verified": False, "groups": ["gpu"]}
    monkeypatch.setattr(client, "authorize_access_token", lambda: {"userinfo": claims})
    assert stranger.get("/auth/oidc/callback?code=c&state=s").status_code == 403
    assert stranger.get("/_dash-layout").status_code == 401

    def refuse():
        raise ValueError("mismatching_state: CSRF Warning! State not equal in request and response.")

    monkeypatch.setattr(client, "authorize_access_token", refuse)
    assert stranger.get("/auth/oidc/callback?code=c&state=forged").status_code == 401
    events = [(e["event"], e["user"], e.get("via")) for e in audit(tmp_path)]
    assert events == [
        ("sign-in", "gpu.person@example.edu", "oidc"),
        ("sign-in-failed", "stranger@example.edu", "oidc"),
        ("sign-in-failed", "gpu.person@example.edu", "oidc"),
        ("sign-in-failed", None, "oidc"),
    ]
    assert [e.get("reason") for e in audit(tmp_path)][1:3] == ["no role for this user", "no verified email"]


# ------------------------------------------------------------------ the real server, end to end
def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (cryptography, installed with authlib)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return certfile, keyfile


def test_a_lab_server_on_every_address_over_https_with_two_workers(tmp_path, users_file):
    """`python app.py --host 0.0.0.0` with a users file and a certificate: gunicorn's two workers
    serve HTTPS, the session one made holds on the other (one key file), and the sign-in limit is
    counted across them."""
    import http.client
    import ssl
    import subprocess

    from docs.screenshots import free_port
    from tests.waiting import wait_until

    root = Path(__file__).resolve().parent.parent
    certfile, keyfile = self_signed(tmp_path)
    port, log = free_port(), tmp_path / "server.log"
    command = [sys.executable, str(root / "app.py"), "--host", "0.0.0.0", "--port", str(port),
               "--workers", "2", "--threads", "2", "--no-jobs", "--jobs", str(tmp_path / "jobs"),
               "--users", str(users_file.path), "--certfile", str(certfile), "--keyfile", str(keyfile),
               "--results", str(root / "data" / "demo")]  # fmt: skip
    context = ssl.create_default_context(cafile=str(certfile))

    def ask(method: str, path: str, body: str | None = None, cookie: str = "") -> tuple[int, dict, bytes]:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=context)
        try:  # a new connection each time: gunicorn hands them to either worker
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except OSError:
            return 0, {}, b""
        finally:
            connection.close()

    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: ask("GET", auth.SIGN_IN)[0] == 200 or process.poll() is not None, timeout=180)
        assert process.poll() is None, log.read_text()[-2000:]
        assert f"https://0.0.0.0:{port}/" in log.read_text() and "sign-in required" in log.read_text()
        status, headers, _ = ask("GET", "/gene/RTN4R")
        assert status == 302 and headers["Location"].startswith(auth.SIGN_IN)
        status, headers, _ = ask("POST", auth.SIGN_IN, f"name=carol&password={quote(PASSWORD)}")
        cookie = headers["Set-Cookie"]
        assert status == 302 and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        session = cookie.split(";")[0]
        assert all(ask("GET", "/_dash-layout", cookie=session)[0] == 200 for _ in range(8))
        assert ask("GET", "/_dash-layout")[0] == 401
        codes = [ask("POST", auth.SIGN_IN, "name=alice&password=wrong-password")[0] for _ in range(6)]
        assert codes == [401] * auth.MAX_USER_FAILURES + [429]
    finally:
        process.terminate()
        process.wait(timeout=60)
    entries = audit(tmp_path / "jobs")  # from both workers, one line each
    events = ["sign-in"] + ["sign-in-failed"] * auth.MAX_USER_FAILURES + ["sign-in-refused"]
    assert [e["event"] for e in entries] == events
    assert "Traceback" not in log.read_text()


def test_oidc_callback_checks_state_nonce_and_signature_of_the_providers_id_token(tmp_path, monkeypatch):
    """The whole callback through authlib, with the provider's token endpoint answered here: an ID
    token signed by the provider's key (published in the discovery document's jwks) signs in; one
    with another nonce, another audience or another key, or a callback with a forged state, does
    not."""
    import time as clock

    import requests
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key, other = RSAKey.generate_key(2048, parameters={"kid": "k1"}), RSAKey.generate_key(2048)
    discovery = {**DISCOVERY, "jwks": {"keys": [key.as_dict(private=False)]}}
    (tmp_path / "openid-configuration.json").write_text(json.dumps(discovery))
    (tmp_path / "oidc.toml").write_text(f'discovery = "{tmp_path / "openid-configuration.json"}"\n'
                                        'client_id = "explorer"\nclient_secret = "s3cret"\n'
                                        'default_role = "viewer"\n')  # fmt: skip
    app = make_app(tmp_path, None, oidc=auth.OidcSettings.read(tmp_path / "oidc.toml"))
    answer: dict = {}

    def token_endpoint(session, prepared, **kwargs):  # what the provider answers the code exchange
        assert prepared.url == DISCOVERY["token_endpoint"] and "code=the-code" in str(prepared.body)
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps(answer).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    monkeypatch.setattr(requests.Session, "send", token_endpoint)

    def sign_in_with(signer=key, **changes) -> int:
        http = app.server.test_client()
        query = parse_qs(urlparse(http.get("/auth/oidc").headers["Location"]).query)
        now = int(clock.time())
        claims = {"iss": DISCOVERY["issuer"], "sub": "u1", "aud": "explorer", "iat": now, "exp": now + 300,
                  "nonce": query["nonce"][0], "email": "pat@example.edu", "email_verified": True,
                  **changes}  # fmt: skip
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, signer)
        answer.update(access_token="at", token_type="Bearer", expires_in=300, id_token=id_token)
        state = changes.pop("state", query["state"][0])
        status = http.get(f"/auth/oidc/callback?code=the-code&state={state}").status_code
        return status, http.get("/_dash-layout").status_code

    assert sign_in_with() == (302, 200), audit(tmp_path)
    assert sign_in_with(nonce="another") == (401, 401)
    assert sign_in_with(aud="another-client") == (401, 401)
    assert sign_in_with(signer=other) == (401, 401)
    assert sign_in_with(state="forged") == (401, 401)
    events = [(e["event"], e["user"]) for e in audit(tmp_path)]
    assert events == [("sign-in", "pat@example.edu")] + [("sign-in-failed", None)] * 4
