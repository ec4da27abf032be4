"""Benchmark: all statistics of DESIGN §5 for one gene, fast vs naive, and the projection to a cohort.

    taskset -c 0 python benchmarks/bench_stats.py [--people 839] [--snvs 3000] [--genes 6825]
        [--candidates skglm,celer,glum] [--cores 16] [--repeats 3] [--reference-repeats 1]

One gene of a simulated cohort with LD blocks (compute/stats/simulated_cohort.py) at
ROSMAP's size: 839 people x 3,000 SNVs. Both implementations run in this process
on the same data with BLAS limited to one thread (threadpoolctl); pin the process
to one core with `taskset -c 0` for a one-core figure. "naive" is
compute/stats/reference.py: one scipy call per SNV and per draw, and each
forward-selection partial sum recomputed from scratch. The elastic net baseline
(compute.stats.baselines.predixcan_r, computed by compute/stats/elastic_net.py) is timed next to
its reference, the same nested cross-validation with scikit-learn's ElasticNetCV
(compute/stats/reference.py predixcan_r_sklearn), with both held-out r, and so are the
maintained public solvers evaluated for it (benchmarks/enet_candidates.py: skglm, celer,
glum running the same path, folds, choice and refit); a last table puts them side by side:
CPU seconds, speed relative to scikit-learn, held-out r and the penalty chosen in each outer
fold, and the ratio of ours to scikit-learn's time.
Times are CPU seconds of this process (time.process_time): with one BLAS thread
they equal wall time on an idle core and are less disturbed by other work on a
shared machine.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.enet_candidates import CANDIDATES, nested_cv_r  # noqa: E402
from compute import stats  # noqa: E402
from compute.stats.elastic_net import elastic_net_cv  # noqa: E402
from compute.stats.reference import drivers_naive, gene_statistics_naive, predixcan_r_sklearn  # noqa: E402
from compute.stats.simulated_cohort import simulate_gene  # noqa: E402


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def _our_penalties(dosage: np.ndarray, observed: np.ndarray, seed: int = 0) -> list[float]:
    """The penalty compute.stats.predixcan_r chooses in each outer fold (its defaults, untimed)."""
    from sklearn.model_selection import KFold

    G = np.asarray(dosage, dtype=np.float64)
    G = G[:, G.std(axis=0) > 0]
    GT, y = np.ascontiguousarray(G.T), np.asarray(observed, dtype=np.float64)
    return [
        elastic_net_cv(GT[:, train], y[train], 5, seed, 0.5, 10, 1e-2, 1e-3, 1000).alpha
        for train, _ in KFold(5, shuffle=True, random_state=seed).split(y)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=839)
    parser.add_argument("--snvs", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=6825, help="cohort size for the projection")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the fast path")
    parser.add_argument(
        "--reference-repeats", type=int, default=1, help="best of N for scikit-learn's elastic net"
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="solvers to compare ('' for none)")
    parser.add_argument("--cores", type=int, default=16, help="cores of the machine the projection is for")
    args = parser.parse_args(argv)

    sim = simulate_gene(np.random.default_rng(0), n_people=args.people, n_snvs=args.snvs)
    pos = 1_000_000 + 50 * np.arange(args.snvs)
    tss = int(pos[args.snvs // 2])
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"machine: {platform.machine()} {platform.processor() or ''}, usable cores {cores}, BLAS threads 1")
    print(f"gene: {args.people} people x {args.snvs} SNVs (simulated, LD blocks of 25)\n")

    with threadpool_limits(1):
        t_fast, res = _best_of(
            lambda: stats.gene_statistics(
                "BENCH", sim.score, sim.observed, sim.dosage, sim.ism, pos, tss, "+", predixcan=False
            ),
            args.repeats,
        )
        t_drivers, _ = _best_of(lambda: stats.drivers(sim.ism, sim.dosage, sim.score), args.repeats)
        t_enet, enet_r = _best_of(lambda: stats.predixcan_r(sim.dosage, sim.observed, seed=0), args.repeats)
        t_enet_ref, enet_r_ref = _best_of(
            lambda: predixcan_r_sklearn(sim.dosage, sim.observed, seed=0), args.reference_repeats
        )
        enet_alphas = _our_penalties(sim.dosage, sim.observed)  # untimed: the penalties behind enet_r
        candidates = {}
        for name in filter(None, args.candidates.split(",")):
            if importlib.util.find_spec(name) is None:
                print(f"{name}: not installed, skipped (pip install -r requirements-bench.txt)")
                continue
            nested_cv_r(sim.dosage[:60, :40], sim.observed[:60], CANDIDATES[name](0.5))  # compile / load once
            candidates[name] = _best_of(
                lambda n=name: nested_cv_r(sim.dosage, sim.observed, CANDIDATES[n](0.5)), 1
            )
        if not args.skip_naive:
            weights = stats.rng_for_gene("BENCH", 0).standard_normal((args.snvs, stats.N_DRAWS))
            t_naive, naive = _best_of(
                lambda: gene_statistics_naive(sim.score, sim.observed, sim.dosage, sim.ism, weights), 1
            )
            t_drivers_naive, _ = _best_of(lambda: drivers_naive(sim.ism, sim.dosage, sim.score), 1)
            same = bool(np.array_equal(naive["is_driver"], res.variants["is_driver"].to_numpy()))
            assert same, "fast and naive driver selections disagree"
            assert abs(naive["null_mean"] - res.gene["null_mean"]) < 1e-12

    hours = args.genes / 3600.0
    print(f"{'one gene':<44}{'CPU s':>10}{'x genes (h)':>14}")
    print(f"{'forward selection, fast (stats.drivers)':<44}{t_drivers:>10.3f}{t_drivers * hours:>14.2f}")
    if not args.skip_naive:
        print(f"{'forward selection, naive':<44}{t_drivers_naive:>10.3f}{t_drivers_naive * hours:>14.2f}")
        print(f"{'  speed-up':<44}{t_drivers_naive / t_drivers:>9.0f}x")
    print(f"{'all statistics but elastic net, fast':<44}{t_fast:>10.3f}{t_fast * hours:>14.2f}")
    if not args.skip_naive:
        print(f"{'all statistics but elastic net, naive':<44}{t_naive:>10.3f}{t_naive * hours:>14.2f}")
        print(f"{'  speed-up':<44}{t_naive / t_fast:>9.0f}x")
    print(f"{'elastic net, 5x5 nested CV (working set)':<44}{t_enet:>10.3f}{t_enet * hours:>14.2f}")
    print(f"{'elastic net, 5x5 nested CV (scikit-learn)':<44}{t_enet_ref:>10.3f}{t_enet_ref * hours:>14.2f}")
    print(f"{'  speed-up':<44}{t_enet_ref / t_enet:>9.1f}x")
    t_all = t_fast + t_enet
    print(f"{'all statistics incl. elastic net':<44}{t_all:>10.3f}{t_all * hours:>14.2f}")
    print(
        f"\nprojection: x {args.genes} genes, one core; drivers found: {res.gene['n_drivers']}, "
        f"elastic-net r {enet_r:.4f} (scikit-learn {enet_r_ref:.4f}, difference {enet_r - enet_r_ref:+.4f})"
    )
    print(
        f"whole study on {args.cores} cores (genes spread over processes, python -m compute stats "
        f"STORE --workers {args.cores}): {t_all * args.genes / args.cores / 60:.1f} min"
    )

    # the elastic net side by side: the same nested CV (path, folds, choice, refit) on each solver
    rows = [
        ("working set (compute/stats/elastic_net.py)", t_enet, enet_r, enet_alphas),
        ("scikit-learn ElasticNetCV (reference)", t_enet_ref, enet_r_ref, None),
    ]
    for name, (seconds, (r, alphas)) in candidates.items():
        rows.append((f"{name} {importlib.metadata.version(name)}", seconds, r, alphas))
    head = f"{'elastic net, 5x5 nested CV, one gene':<46}{'CPU s':>9}{'vs scikit-learn':>17}"
    print(f"\n{head}{'held-out r':>12}   chosen penalties (outer folds)")
    for label, seconds, r, alphas in rows:
        chosen = "" if alphas is None else ", ".join(f"{a:.4f}" for a in alphas)
        print(f"{label:<46}{seconds:>9.3f}{t_enet_ref / seconds:>16.2f}x{r:>12.4f}   {chosen}")
    print(
        f"ours / scikit-learn: {t_enet / t_enet_ref:.3f} of the CPU time "
        f"({t_enet_ref / t_enet:.1f}x as fast), held-out r {enet_r:.5f} vs {enet_r_ref:.5f} "
        f"(difference {enet_r - enet_r_ref:+.5f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
