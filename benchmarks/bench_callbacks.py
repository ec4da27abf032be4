"""Where a cold gene switch's server CPU goes, callback by callback (Flask test client).

    .venv/bin/python benchmarks/bench_callbacks.py --store DIR [--genes 40] [--cache disk|memory]
                                                   [--profile CALLBACK] [--top 25] [--sort cumulative]

Builds the app as `python app.py` does (one BLAS thread, the stores warmed) in this process and
replays, one request at a time, what a tab sends on a gene switch (the requests of
benchmarks/bench_load.py: the URL callback, then every callback that follows the selection, each
with the state the previous answers left, so the all-genes panels answer with Patches), through
Flask's test client: Dash's dispatch and the JSON of each answer included, no HTTP server. Each
gene is one the process has not opened (the cold path of a switch). Prints, per callback, the
median CPU time of this process (every thread: the URL's read-ahead of the genotypes runs on one,
and is waited for and counted as its own row) and the median size of the answer; then the total
per switch. `--cache disk` (the default) keeps the view cache in a fresh directory shared as
gunicorn's workers share it (locks and writes between processes: what the default server pays);
`--cache memory` in this process only. `--profile CALLBACK` (a prefix of its output id, e.g.
ism_eqtl; "" for all) prints that callback's cProfile over all genes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_load import SELECTION, URL, outputs_of, switch_callbacks, url_callback  # noqa: E402

PREFETCH = "(URL's read-ahead)"


class Tab:
    """One tab's state, its requests sent through Flask's test client one at a time."""

    def __init__(self, app, profile: str | None):
        self.app = app
        self.client = app.server.test_client()
        self.callbacks = {
            d["output"]: d for d in self.client.get("/_dash-dependencies").get_json()
            if not d.get("clientside_function")
        }  # fmt: skip
        self.state: dict[str, object] = {"filter-subset.value": "all"}
        self.cpu: dict[str, list[float]] = {}
        self.size: dict[str, list[int]] = {}
        self.profile = profile
        self.profiler = cProfile.Profile()

    def post(self, key: str, changed: dict, values: dict | None = None) -> None:
        values = values or {}
        callback = self.callbacks[key]

        def filled(spec: dict) -> dict:
            name = f"{spec['id']}.{spec['property']}"
            return {**spec, "value": values[name] if name in values else self.state.get(name)}

        body = {"output": key, "outputs": outputs_of(key), "inputs": [filled(i) for i in callback["inputs"]],
                "state": [filled(s) for s in callback.get("state", [])],
                "changedPropIds": [f"{changed['id']}.{changed['property']}"]}  # fmt: skip
        name, data = name_of(key), json.dumps(body)  # the request as the browser sends it, made before
        profiled = self.profile is not None and name.startswith(self.profile)
        start = time.process_time()
        if profiled:
            self.profiler.enable()
        response = self.client.post("/_dash-update-component", data=data, content_type="application/json")
        if profiled:
            self.profiler.disable()
        self.cpu.setdefault(name, []).append(time.process_time() - start)
        if response.status_code == 204:  # nothing to update
            self.size.setdefault(name, []).append(0)
            return
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code} {response.data[:300]!r}")
        self.size.setdefault(name, []).append(len(response.data))
        for ident, props in json.loads(response.data).get("response", {}).items():
            for prop, value in props.items():
                if prop != "figure":
                    self.state[f"{ident}.{prop}"] = value

    def switch(self, gene: str, dataset: str) -> None:
        url = {"url.pathname": f"/gene/{gene}", "url.search": f"?dataset={dataset}"}
        self.post(url_callback(self.callbacks), URL, url)
        self.state.update(url)
        start = time.process_time()
        self.app.datasets._prefetcher.submit(lambda: None).result()  # the read-ahead, finished
        self.cpu.setdefault(PREFETCH, []).append(time.process_time() - start)
        for key, _ in switch_callbacks(self.callbacks):
            self.post(key, SELECTION)
        self.app.datasets.view_cache.flush()  # values written behind: their CPU in this switch


def name_of(key: str) -> str:
    """A callback's short name: its first output's id ('..card-content.children...' -> card-content)."""
    return key.strip(".").split("...")[0].rsplit(".", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--genes", type=int, default=40, help="cold gene switches measured")
    parser.add_argument("--cache", choices=["disk", "memory"], default="disk")
    parser.add_argument("--profile", metavar="CALLBACK", help="cProfile of this callback (output id prefix)")
    parser.add_argument("--top", type=int, default=25, help="rows of the profile")
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # as each server process does (app.py)
    from app import create_app
    from components.view_cache import ViewCache

    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        cache = ViewCache(Path(tmp) / "views", shared=True) if args.cache == "disk" else ViewCache()
        app = create_app([args.store], view_cache=cache)
        app.datasets.warm()
        dataset = app.datasets.default
        genes = app.datasets.genes(dataset)
        rng = np.random.default_rng(3)
        names = [str(g) for g in genes["gene_name"].iloc[rng.permutation(len(genes))[: args.genes + 2]]]
        tab = Tab(app, args.profile)
        tab.client.get(f"/gene/{names[0]}?dataset={dataset}")
        tab.switch(names[0], dataset)  # the first visit: full figures; then switches send Patches
        tab.switch(names[1], dataset)
        tab.cpu.clear(), tab.size.clear()
        tab.profiler = cProfile.Profile()
        for name in names[2:]:
            tab.switch(name, dataset)
        rows = sorted(((statistics.median(v), k) for k, v in tab.cpu.items()), reverse=True)
        total = sum(sum(v) for v in tab.cpu.values()) / args.genes
        sent = sum(sum(v) for v in tab.size.values()) / args.genes
        print(f"store {args.store.name}: {len(genes):,} genes; {args.genes} cold gene switches, one request "
              f"at a time, view cache: {args.cache}")  # fmt: skip
        print("  callback                      CPU ms (median)   answer KB (median)")
        for seconds, name in rows:
            size = statistics.median(tab.size[name]) / 1024 if name in tab.size else 0.0
            print(f"  {name:30s} {1e3 * seconds:10.1f} {size:16.1f}")
        print(f"  per switch (mean of the sums): {1e3 * total:.1f} ms CPU, {sent / 1024:.0f} KB, "
              f"{len(tab.size)} requests")  # fmt: skip
        if args.profile is not None:
            out = io.StringIO()
            pstats.Stats(tab.profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
