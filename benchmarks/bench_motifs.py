"""Motif scan throughput: SNVs x all JASPAR CORE vertebrate motifs, vectorised vs one motif at a time.

    python benchmarks/bench_motifs.py [--snvs 1000] [--seed 0]

Input: `--snvs` positions drawn at random from the real GRCh37 chr22:20-21 Mb
sequence in data/external/22_20-21M.fa (N positions skipped), each with a random
ALT base. `compute.analyses.motifs.scan_snvs` (one matrix product of unfolded one-hot
windows with all PWMs per batch) against a plain loop over motifs, strands and
SNV columns (numpy over the SNVs) that computes the same table; both run in this
process on the same windows, and their hit counts must agree. Wall time uses
both cores through BLAS; CPU time is summed over threads.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compute.analyses.motifs import (  # noqa: E402
    BASES,
    P_THRESHOLD,
    MotifSet,
    load_jaspar,
    scan_snvs,
    snv_windows,
)
from compute.cohort.reference import Reference  # noqa: E402

FASTA = ROOT / "data" / "external" / "22_20-21M.fa"
RECORD = "22:20000001-21000000"


def per_motif_scan(windows: np.ndarray, alts: np.ndarray, motifs: MotifSet) -> int:
    """(SNV, motif) pairs with a site on either allele, one motif and strand at a time."""
    center = windows.shape[1] // 2
    ref = windows[:, center].astype(np.intp)
    rows = np.arange(len(windows))
    hits = 0
    for i, pwm in enumerate(motifs.pwms):
        m = len(pwm)
        best = []
        for p in (pwm, pwm[::-1, ::-1]):
            padded = np.hstack([p, np.zeros((m, 1))])  # N scores 0
            ref_best = np.full(len(windows), -np.inf)
            alt_best = np.full(len(windows), -np.inf)
            for k in range(m):
                sub = windows[:, center - k : center - k + m]
                score = padded[np.arange(m), sub].sum(axis=1)
                ref_best = np.maximum(ref_best, score)
                alt_best = np.maximum(alt_best, score + padded[k, alts] - padded[k, ref])
            best.append((ref_best, alt_best))
        (rf, af), (rr, ar) = best
        reverse = np.maximum(rr, ar) > np.maximum(rf, af)
        ref_s, alt_s = np.where(reverse, rr, rf), np.where(reverse, ar, af)
        index = np.full(len(rows), i)
        p = np.minimum(motifs.pvalues(index, ref_s), motifs.pvalues(index, alt_s))
        hits += int(np.sum(p < P_THRESHOLD))
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snvs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not FASTA.is_file():
        sys.exit(f"{FASTA.relative_to(ROOT)} missing: run `bash data/fetch_debian_data.sh`")

    t = time.perf_counter()
    motifs = load_jaspar()
    t_load = time.perf_counter() - t

    rng = np.random.default_rng(args.seed)
    reference = Reference(FASTA)
    sequence = reference.tokens(RECORD, 0, reference.length(RECORD))
    acgt = np.flatnonzero(sequence[motifs.flank : -motifs.flank] < 4) + motifs.flank
    positions = np.sort(rng.choice(acgt, args.snvs, replace=False)) + 1
    refs = [BASES[sequence[p - 1]] for p in positions]
    alts = (sequence[positions - 1] + rng.integers(1, 4, args.snvs)) % 4
    t = time.perf_counter()
    windows = snv_windows(FASTA, [RECORD] * args.snvs, positions, refs, motifs.flank)
    t_windows = time.perf_counter() - t

    runs, cpu_runs = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        table = scan_snvs(windows, alts, motifs)
        runs.append(time.perf_counter() - t)
        cpu_runs.append(time.process_time() - c)
    t_scan, c_scan = float(np.median(runs)), float(np.median(cpu_runs))
    t, c = time.perf_counter(), time.process_time()
    baseline_hits = per_motif_scan(windows, alts, motifs)
    t_baseline, c_baseline = time.perf_counter() - t, time.process_time() - c
    if baseline_hits != len(table):
        sys.exit(f"hit counts differ: vectorised {len(table)}, per motif {baseline_hits}")

    print(f"{platform.machine()}, {args.snvs} SNVs x {len(motifs)} motifs")
    print(f"load JASPAR ({motifs.source}), PWMs + exact score distributions: {t_load:.2f} s")
    print(f"reference windows ({windows.shape[1]} bp) from the FASTA: {t_windows:.2f} s")
    print(
        f"scan, vectorised (median of 3): {t_scan:.2f} s wall ({args.snvs / t_scan:,.0f} SNVs/s), "
        f"{c_scan:.2f} s CPU"
    )
    print(f"scan, one motif at a time: {t_baseline:.2f} s wall, {c_baseline:.2f} s CPU")
    print(f"speed-up: {t_baseline / t_scan:.1f}x wall, {c_baseline / c_scan:.1f}x CPU")
    print(f"rows: {len(table)} {table.effect.value_counts().to_dict()}")


if __name__ == "__main__":
    main()
