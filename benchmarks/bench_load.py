"""The dashboard under concurrent sessions: gene switches replayed against the real server.

    .venv/bin/python benchmarks/bench_load.py --store DIR [--sessions 1 8] [--switches 20] [--threads 8]

Serves the store with the production server (`app.serve`: waitress) on 127.0.0.1 in a
thread of this process and replays, per session, what the browser sends for one gene
switch: the URL callback, then every server callback that follows the selection
(card, volcano, scatter, ISM vs eQTL, locus, histograms, violins, logo, sensitivity,
dataset links, filter), each with the previous answer's state (so the volcano and the
sensitivity panel send Patches, as in the browser). Sessions run in parallel threads,
their requests one after another. Prints per full gene switch p50, p95 and max, and the
throughput, for each session count, next to the single-session figure of the same run.
Only 127.0.0.1 is contacted; every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_dashboard import peak_rss_mb  # noqa: E402
from docs.screenshots import free_port  # noqa: E402

SELECTION = {"id": "app-selection", "property": "data"}


def outputs_of(key: str) -> list[dict] | dict:
    """The `outputs` of a callback request, from its callback_map key ('..a.b...c.d..' or 'a.b')."""
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    specs = []
    for part in parts:
        ident, prop = part.rsplit(".", 1)
        specs.append({"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop})
    return specs if key.startswith("..") else specs[0]


def switch_callbacks(app) -> list[tuple[str, dict]]:
    """The server callbacks a selection change runs (not the exports, which need a click)."""
    chosen = []
    for key, callback in app.callback_map.items():
        if "callback" not in callback or key.startswith("{"):
            continue
        if any(i == SELECTION for i in callback["inputs"]) and "download" not in key:
            chosen.append((key, callback))
    return chosen


class Session:
    """One browser tab: its connection and the state its figures hold."""

    def __init__(self, port: int, callbacks: list[tuple[str, dict]]):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.callbacks = callbacks
        self.state: dict[str, object] = {}  # "id.property" -> last value the server sent

    def post(self, key: str, inputs: list[dict], state: list[dict]) -> dict:
        body = {"output": key, "outputs": outputs_of(key), "inputs": inputs, "state": state,
                "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}  # fmt: skip
        self.connection.request("POST", "/_dash-update-component", json.dumps(body),
                                {"Content-Type": "application/json"})  # fmt: skip
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{key}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data)["response"]

    def value(self, spec: dict, selection: dict) -> object:
        if spec == SELECTION:
            return selection
        if spec["id"] == "filter-subset":
            return "all"
        return self.state.get(f"{spec['id']}.{spec['property']}")

    def switch(self, gene: str, dataset: str) -> None:
        url = [{"id": "url", "property": "pathname", "value": f"/gene/{gene}"},
               {"id": "url", "property": "search", "value": f"?dataset={dataset}"}]  # fmt: skip
        answer = self.post("..app-selection.data...app-message.children...app-message.className..", url, [])
        selection = answer["app-selection"]["data"]
        for key, callback in self.callbacks:
            inputs = [{**i, "value": self.value(i, selection)} for i in callback["inputs"]]
            state = [{**s, "value": self.value(s, selection)} for s in callback.get("state", [])]
            for ident, props in self.post(key, inputs, state).items():
                for prop, value in props.items():
                    if prop != "figure":  # a Patch answer is not the figure; the stores are what matter
                        self.state[f"{ident}.{prop}"] = value


def run_sessions(port: int, callbacks, genes: list[str], dataset: str, sessions: int, switches: int):
    times: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def one(k: int) -> None:
        session = Session(port, callbacks)
        rng = np.random.default_rng(k)
        try:
            session.switch(genes[0], dataset)  # the first load of this tab
            for gene in rng.choice(genes, size=switches):
                start = time.perf_counter()
                session.switch(str(gene), dataset)
                with lock:
                    times.append(time.perf_counter() - start)
        except Exception as err:  # reported, not hidden
            errors.append(repr(err))
        finally:
            session.connection.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(sessions)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(errors[0])
    return times, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, required=True, help="a results store (e.g. one bench_dashboard built)"
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--switches", type=int, default=20, help="gene switches per session")
    parser.add_argument("--threads", type=int, default=8, help="server threads")
    args = parser.parse_args(argv)
    from waitress.server import create_server

    from app import create_app
    from components import request_guard

    app = create_app([args.store])
    port = free_port()
    server = create_server(app.server, host="127.0.0.1", port=port, threads=args.threads,
                           max_request_body_size=request_guard.MAX_BODY)  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    dataset = app.datasets.default
    genes = [str(g) for g in app.datasets.genes(dataset)["gene_name"].head(2000)]
    callbacks = switch_callbacks(app)
    print(f"store {args.store.name}: {len(app.datasets.genes(dataset)):,} genes; "
          f"{len(callbacks) + 1} callbacks per gene switch; server threads {args.threads}")  # fmt: skip
    start = time.perf_counter()
    run_sessions(port, callbacks, genes, dataset, 1, 1)
    print(f"first page load (server side, one session)   {1e3 * (time.perf_counter() - start):8.0f} ms")
    single = None
    for n in args.sessions:
        times, wall = run_sessions(port, callbacks, genes, dataset, n, args.switches)
        p50 = statistics.median(times)
        single = single or p50
        p95, worst, rate = np.percentile(times, 95), max(times), len(times) / wall
        print(
            f"{n:3d} session(s): gene switch p50 {1e3 * p50:7.0f} ms, p95 {1e3 * p95:7.0f} ms, "
            f"max {1e3 * worst:7.0f} ms; {rate:5.1f} switches/s; p50 / single session {p50 / single:.1f}"
        )
    print(f"peak RSS of the server process {peak_rss_mb():.0f} MB")
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
