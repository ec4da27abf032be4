"""No request reaches a traceback: forged and malformed callback requests get a friendly answer
or a 4xx, never a 500, and the server still serves the dashboard after them."""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.bench_load import outputs_of

ROOT = Path(__file__).resolve().parent.parent
DEEP = json.loads("[" * 400 + "]" * 400)
RTN4R = "ENSG00000040608"  # a demo gene
UP_TWO = "/".join(["..", "..", "etc", "passwd"])  # a path climbing out (built, so no file names one)
HOSTILE = [
    None, 0, -1, 1e308, True, "", "x" * 1_000_000, "\0", "\ud800", UP_TWO, [], [1, "a"], {},
    {"a": 1}, DEEP, {"dataset": ["published"]}, {"dataset": "nosuch"}, {"dataset": 7},
    {"dataset": "published", "gene_id": ["a"]}, {"dataset": "published", "gene_id": "ENSG_NO_SUCH"},
    {"dataset": "demo", "gene_id": RTN4R, "snv": {"a": 1}},
    {"dataset": "demo", "gene_id": RTN4R, "snv": "x" * 5000},
    {"points": [{"text": {"a": 1}}]}, {"points": [{"customdata": [["nested"]]}]}, {"type": "card-snv"},
]  # fmt: skip


def spec(item: dict, value) -> dict | list:
    ident = item["id"]
    if isinstance(ident, str) and ident.startswith("{"):  # a pattern-matching input: a list of matches
        pattern = json.loads(ident)
        return [{"id": {**pattern, "index": "x"}, "property": item["property"], "value": value}]
    return {"id": ident, "property": item["property"], "value": value}


def requests_for(app):
    for key, callback in app.callback_map.items():
        inputs, state = callback["inputs"], callback.get("state", [])
        for position in range(len(inputs) + len(state)):
            for value in HOSTILE:
                values = [value if k == position else None for k in range(len(inputs) + len(state))]
                yield {
                    "output": key, "outputs": outputs_of(key),
                    "inputs": [spec(i, v) for i, v in zip(inputs, values, strict=False)],
                    "state": [spec(s, v) for s, v in zip(state, values[len(inputs):], strict=False)],
                    "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
                }  # fmt: skip


@pytest.fixture(scope="module")
def open_client():
    from app import create_app, default_store_paths

    app = create_app(default_store_paths())
    return app, app.server.test_client()


@pytest.fixture(scope="module")
def signed_in_client(tmp_path_factory):
    """The same app behind sign-in (components/auth.py), with a compute user signed in (so forged
    requests reach the job callbacks too) and `published` open to another user only."""
    from app import create_app, default_store_paths
    from components import auth
    from components.users import UsersFile

    tmp = tmp_path_factory.mktemp("signed-in")
    users = UsersFile(tmp / "users.json")
    users.add("carol", "correct horse battery staple", "compute")
    access = {"published": frozenset({"someone-else"})}
    settings = auth.AuthSettings(tmp, users, access=access)
    app = create_app(default_store_paths(), sign_in=settings, audit=auth.AuditLog(tmp / "audit.jsonl"))
    http = app.server.test_client()
    signed = http.post("/auth/sign-in", data={"name": "carol", "password": "correct horse battery staple"})
    assert signed.status_code == 302
    return app, http


@pytest.fixture(scope="module", params=["open", "signed-in"])
def client(request):
    """The app as served on loopback (no sign-in), and behind sign-in with a user signed in."""
    return request.getfixturevalue("open_client" if request.param == "open" else "signed_in_client")


@pytest.mark.slow
def test_forged_callback_requests_never_reach_a_traceback(client, caplog):
    app, http = client
    statuses = {}
    with caplog.at_level(logging.ERROR):
        for body in requests_for(app):
            response = http.post(
                "/_dash-update-component", data=json.dumps(body), content_type="application/json"
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (body["output"], str(body)[:300], response.data[:300])
    print(f"\n{sum(statuses.values())} forged callback requests: status counts {statuses}")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records[:3]
    assert http.get("/gene/DDX11?dataset=demo").status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b"{}", b'{"output": "no-such.children", "inputs": []}', b'{"output": 5}',
     b"[" * 100_000, json.dumps({"output": "card-content.children", "inputs": "x"}).encode()],
)  # fmt: skip
def test_malformed_request_envelopes_get_a_4xx(client, caplog, body):
    _, http = client
    with caplog.at_level(logging.ERROR):
        response = http.post("/_dash-update-component", data=body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.data[:300]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


TRAVERSAL = [
    "/_dash-component-suites/../../app.py", "/_dash-component-suites/dash/..%2F..%2Fapp.py",
    "/assets/../app.py", "/assets/..%2Fapp.py",
]  # fmt: skip


@pytest.mark.parametrize("path", TRAVERSAL)
def test_traversal_outside_the_served_folders_is_refused(client, path):
    _, http = client
    response = http.get(path)
    assert response.status_code in (400, 404), response.status_code
    assert b"create_app" not in response.data


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """`python app.py --workers 2` (gunicorn) on 127.0.0.1 and a free port; its log file."""
    from docs.screenshots import free_port

    tmp = tmp_path_factory.mktemp("workers")
    port, log = free_port(), tmp / "server.log"
    command = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--workers", "2", "--threads", "2",
               "--no-jobs", "--cache", str(tmp / "views"), "--jobs", str(tmp / "jobs")]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while status(port, "GET", "/_dash-dependencies")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=60)


def status(port: int, method: str, path: str, body: bytes | None = None, headers=None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def too_large(port: int) -> int:
    """The status of a callback request announcing a body over the limit (the server answers
    before reading it, so none is sent)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("POST", "/_dash-update-component")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(5 << 20))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_multi_process_server_answers_hostile_requests_with_a_4xx(open_client, workers):
    """The same boundary holds behind gunicorn's workers, and so do its own request limits."""
    app, _ = open_client
    port, log = workers
    forged = list(requests_for(app))[::7]  # a sample: every callback, most positions and values
    for body in forged:
        code, data = status(port, "POST", "/_dash-update-component", json.dumps(body).encode())
        assert 0 < code < 500, (body["output"], str(body)[:300], data[:300])
    for body in (b"not json", b"[" * 100_000, b'{"output": 5}'):
        assert 400 <= status(port, "POST", "/_dash-update-component", body)[0] < 500
    assert too_large(port) == 413
    assert status(port, "GET", "/gene/" + "A" * 9000)[0] in (400, 414)  # request line over the limit
    assert status(port, "GET", "/", headers={"X-Big": "x" * 20_000})[0] in (400, 431)  # a header too large
    for path in TRAVERSAL:
        assert status(port, "GET", path)[0] in (400, 404)
    assert status(port, "GET", "/gene/DDX11")[0] == 200
    text = log.read_text()
    assert "Traceback" not in text and "ERROR" not in text, text[-2000:]
