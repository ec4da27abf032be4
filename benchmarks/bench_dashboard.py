"""Dashboard server-side speed and memory at full cohort scale.

    .venv/bin/python benchmarks/bench_dashboard.py [--genes 6825] [--people 839] [--snvs 3000]
                                                   [--store DIR] [--switches 30]

Builds a synthetic store (default: 6,825 genes x 839 people, ~20 M variant rows)
in a temporary directory (or reuses `--store DIR`), then, in a fresh process
that imports only the web side, times:
- start-up: `create_app` (reads manifests, builds the layout, registers callbacks);
- first page load: every callback a first visit to /gene/<name> runs, with cold
  caches (URL, dataset links, search, volcano, card, expression, ISM vs eQTL,
  locus, TSS histograms with all drivers, genotype), figures serialised to JSON;
- gene switch: the same for another gene (the volcano only moves its highlight);
next to the baseline of reading the same gene's rows with plain pandas
(`pd.read_parquet(..., filters=[("gene_id", "==", g)])` of variants, people, null).
Prints times, ratios and the measuring process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"gene_switch_ms": 200.0, "first_load_ms": 2000.0, "rss_mb": 2048.0}


def build(path: Path, genes: int, people: int, snvs: int, with_genotypes: bool = False) -> float:
    sys.path.insert(0, str(ROOT))
    from benchmarks.synthetic_store import make_synthetic_store

    start = time.perf_counter()
    make_synthetic_store(path, genes, people, snvs, seed=1, chunk_genes=50, with_genotypes=with_genotypes)
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ru_maxrss survives fork and exec, so a child
    started by a parent that has just built a 2 GB store would report the parent's peak; VmHWM
    belongs to the process's own memory map."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(store: Path, switches: int) -> dict:
    """Runs in a fresh process: only what the web process imports."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pandas as pd
    from plotly.io.json import to_json_plotly
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # as each server process does (app.py)

    import components
    from app import build_layout, create_app
    from components import navigation, search, theme, volcano

    assert "torch" not in sys.modules, "the web process imported torch"

    def serialise(result) -> int:
        return len(to_json_plotly(result))

    def page(app, gene_name: str, shown: str | None) -> tuple[float, int]:
        """All callbacks of one visit to /gene/<gene_name>; returns (seconds, bytes sent)."""
        start = time.perf_counter()
        datasets = app.datasets
        sel = navigation.selection_for(datasets, f"/gene/{gene_name}", f"?dataset={datasets.default}")
        assert sel.gene_id is not None, sel.message
        sent = serialise(sel.to_dict())
        fig, _ = volcano.render(datasets, sel, shown)
        sent += serialise(fig)
        sent += serialise(search.options(search.matches(datasets.genes(sel.dataset), gene_name[:3])))
        for view in components.GENE_VIEWS:
            answer = view.render(datasets, sel)
            if isinstance(answer, tuple):  # (figure, note): the figure as its callback sends it
                answer = (theme.typed_arrays(answer[0]), *answer[1:])
            sent += serialise(answer)
        return time.perf_counter() - start, sent

    start = time.perf_counter()
    app = create_app([store])
    startup = time.perf_counter() - start
    start = time.perf_counter()
    layout_bytes = serialise(build_layout())
    layout_s = time.perf_counter() - start

    genes = app.datasets.genes(app.datasets.default)
    rng = np.random.default_rng(7)
    picks = genes.iloc[rng.choice(len(genes), size=switches + 1, replace=False)]
    first_s, first_bytes = page(app, str(picks.gene_name.iloc[0]), None)
    first_load = layout_s + first_s

    switch_s, switch_bytes = [], []
    shown = volcano.shown_key(app.datasets, app.datasets.default, "all")  # the page has the cloud: Patches
    for name in picks.gene_name.iloc[1:]:
        seconds, sent = page(app, str(name), shown)
        switch_s.append(seconds)
        switch_bytes.append(sent)
    # The dashboard's peak, before the baseline below (pyarrow's filtered reads of whole tables) adds its own.
    rss_mb = peak_rss_mb()

    pandas_s = []
    for gene_id in picks.gene_id.iloc[1:]:
        start = time.perf_counter()
        for table in ("variants", "people", "null"):
            pd.read_parquet(store / f"{table}.parquet", filters=[("gene_id", "==", gene_id)])
        pandas_s.append(time.perf_counter() - start)
    rss_baseline_mb = peak_rss_mb()

    # Read path alone: one gene's rows through ResultsStore, cold per gene.
    from compute.store import ResultsStore

    fresh = ResultsStore(store)
    read_s = []
    for gene_id in picks.gene_id.iloc[1:]:
        start = time.perf_counter()
        fresh.variants(gene_id), fresh.people(gene_id), fresh.null(gene_id)
        read_s.append(time.perf_counter() - start)

    variants_rows = int(genes.n_snvs.sum())
    return {
        "genes": len(genes),
        "people": int(genes.n_people.iloc[0]),
        "variant_rows": variants_rows,
        "startup_ms": 1e3 * startup,
        "first_load_ms": 1e3 * first_load,
        "first_load_kb": (layout_bytes + first_bytes) / 1024,
        "gene_switch_ms": 1e3 * statistics.median(switch_s),
        "gene_switch_p95_ms": 1e3 * float(np.percentile(switch_s, 95)),
        "gene_switch_kb": statistics.median(switch_bytes) / 1024,
        "store_read_ms": 1e3 * statistics.median(read_s),
        "pandas_read_ms": 1e3 * statistics.median(pandas_s),
        "rss_mb": rss_mb,
        "rss_with_baseline_mb": rss_baseline_mb,
        "torch_imported": "torch" in sys.modules,
    }


def report(result: dict, build_s: float | None) -> None:
    r = result
    print(f"store: {r['genes']:,} genes x {r['people']:,} people, {r['variant_rows']:,} variant rows")
    if build_s is not None:
        print(f"synthetic store built in {build_s:.0f} s")
    print(f"start-up (create_app)          {r['startup_ms']:8.1f} ms")
    print(
        f"first page load, server side   {r['first_load_ms']:8.1f} ms  ({r['first_load_kb']:.0f} KB JSON)"
        f"   goal < {GOALS['first_load_ms']:.0f} ms"
    )
    print(
        f"gene switch, server side       {r['gene_switch_ms']:8.1f} ms median, "
        f"{r['gene_switch_p95_ms']:.1f} ms p95"
        f" ({r['gene_switch_kb']:.0f} KB JSON)   goal < {GOALS['gene_switch_ms']:.0f} ms"
    )
    print(f"  of which ResultsStore read   {r['store_read_ms']:8.1f} ms median (cold gene)")
    print(f"baseline: pandas read_parquet  {r['pandas_read_ms']:8.1f} ms median (filters=gene_id, 3 tables)")
    print(f"ratio gene switch / pandas read      {r['gene_switch_ms'] / r['pandas_read_ms']:.2f}")
    print(f"ratio ResultsStore / pandas read     {r['store_read_ms'] / r['pandas_read_ms']:.2f}")
    print(f"peak RSS of the web process    {r['rss_mb']:8.0f} MB   goal < {GOALS['rss_mb']:.0f} MB")
    print(f"  after the pandas baseline too  {r['rss_with_baseline_mb']:8.0f} MB")
    print(f"torch imported by the web process: {r['torch_imported']}")


def full_scale_parser(description: str) -> argparse.ArgumentParser:
    """The options of the full-scale dashboard benchmarks (this one and bench_genotypes.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--genes", type=int, default=6825)
    parser.add_argument("--people", type=int, default=839)
    parser.add_argument("--snvs", type=int, default=3000, help="mean SNVs per gene")
    parser.add_argument("--store", type=Path, help="reuse (or build once into) this store directory")
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    return parser


def measure_in_fresh_process(script: str, store: Path, switches: int) -> dict | None:
    """Run `script --measure STORE` in a new process (only what the web side imports); its JSON."""
    child = subprocess.run(
        [sys.executable, script, "--measure", str(store), "--switches", str(switches)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        return None
    return json.loads(child.stdout.strip().splitlines()[-1])


def run_full_scale(
    script: str, argv: list[str] | None, description: str, measure, report, with_genotypes: bool = False
) -> int:
    """The main of a full-scale dashboard benchmark (this one and bench_genotypes.py): build the
    synthetic store once (or reuse --store), measure in a fresh process, report."""
    args = full_scale_parser(description).parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.switches)))
        return 0
    built = "genotypes.parquet" if with_genotypes else "genes.parquet"
    with tempfile.TemporaryDirectory(prefix="bench-full-scale-") as tmp:
        store = args.store or Path(tmp) / "store"
        build_s = None
        if not (store / built).is_file():
            build_s = build(store, args.genes, args.people, args.snvs, with_genotypes)
        result = measure_in_fresh_process(script, store, args.switches)
        if result is None:
            return 1
        report(result, build_s)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_full_scale(__file__, argv, "Dashboard server-side speed at full scale.", measure, report)


if __name__ == "__main__":
    sys.exit(main())
