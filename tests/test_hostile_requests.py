"""No request reaches a traceback: forged and malformed callback requests get a friendly answer
or a 4xx, never a 500, and the server still serves the dashboard after them."""

from __future__ import annotations

import json
import logging
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
def client():
    from app import create_app, default_store_paths

    app = create_app(default_store_paths())
    return app, app.server.test_client()


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
    assert http.get("/gene/DDX11").status_code == 200


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
