"""Simple CNN baseline at the paper's size (40,001 bp, 900 kernels x 10, pool 900, dense 200):
training step, haplotype scoring and ISM, each beside the full forward measured in the same run.

    python benchmarks/bench_cnn.py [--people 300] [--snvs 200] [--genes 64]

Input: a random reference window, `--snvs` SNVs at random offsets with random allele
frequencies, `--people` people with random haplotypes. The patched scoring
(compute.analyses.cnn.model.ReferenceCache) is checked against the full forward before timing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute.analyses.cnn.model import (
    CNNConfig,
    ReferenceCache,
    TrainOptions,
    build_model,
    ism_scores,
    score_tokens,
    train_cnn,
)

CPU_SECONDS: dict[str, float] = {}


def timed(func, label: str) -> tuple[float, object]:
    """Wall seconds of one call (CPU seconds, summed over threads, go to CPU_SECONDS[label])."""
    cpu, started = time.process_time(), time.perf_counter()
    out = func()
    CPU_SECONDS[label] = time.process_time() - cpu
    return time.perf_counter() - started, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--snvs", type=int, default=200)
    parser.add_argument("--genes", type=int, default=64, help="genes in the timed training epoch")
    parser.add_argument("--batch-size", type=int, default=32, help="haplotypes scored at a time")
    args = parser.parse_args(argv)

    config = CNNConfig()
    rng = np.random.default_rng(0)
    model = build_model(config).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ref = rng.integers(0, 4, config.window, dtype=np.uint8)
    offsets = np.sort(rng.choice(config.window, args.snvs, replace=False))
    alts = ((ref[offsets] + rng.integers(1, 4, args.snvs)) % 4).astype(np.uint8)
    freq = rng.uniform(0.01, 0.5, args.snvs)
    carried = rng.random((2 * args.people, args.snvs)) < freq
    haplotypes = np.repeat(ref[None], len(carried), axis=0)
    rows, cols = np.nonzero(carried)
    haplotypes[rows, offsets[cols]] = alts[cols]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; window {config.window:,} bp, "
          f"{args.snvs} SNVs, {args.people} people ({carried.sum(1).mean():.0f} ALT alleles per haplotype)")

    cache = ReferenceCache(model, ref)
    check = slice(0, 8)
    diff = np.abs(cache.scores(haplotypes[check]) - score_tokens(model, haplotypes[check])).max()
    print(f"patched vs full forward, max abs diff over 8 haplotypes: {diff:.2e}")

    n_full = 32
    full_s, _ = timed(lambda: score_tokens(model, haplotypes[:n_full], batch_size=8), "full")
    per_full = full_s / n_full
    patched_s, _ = timed(lambda: cache.scores(haplotypes, batch_size=args.batch_size), "patched")
    per_patched = patched_s / len(haplotypes)
    print(f"haplotypes: full forward {per_full * 1e3:.1f} ms each, patched {per_patched * 1e3:.2f} ms each "
          f"-> {per_full / per_patched:.1f}x")
    ism_s, _ = timed(lambda: ism_scores(cache, offsets, alts), "ism")
    per_ism = ism_s / args.snvs
    print(f"ISM: {args.snvs} SNVs in {ism_s:.2f} s ({per_ism * 1e3:.2f} ms per SNV; "
          f"a full forward per SNV would be {per_full * 1e3:.1f} ms -> {per_full / per_ism:.0f}x)")
    cache_s, _ = timed(lambda: ReferenceCache(model, ref), "cache")
    print(f"reference cache: {cache_s * 1e3:.0f} ms per gene")
    gene_s = cache_s + patched_s + ism_s
    print(f"one gene ({2 * args.people} haplotypes, all distinct, + ISM): {gene_s:.1f} s patched, "
          f"{per_full * (2 * args.people + args.snvs + 1):.1f} s by full forwards "
          f"-> {per_full * (2 * args.people + args.snvs + 1) / gene_s:.1f}x")

    tokens = rng.integers(0, 4, (args.genes, config.window), dtype=np.uint8)
    targets = rng.normal(size=args.genes)
    train = np.ones(args.genes, bool)
    epoch_s, trained = timed(
        lambda: train_cnn(tokens, targets, train, ~train, config, TrainOptions(epochs=1, batch_size=32)),
        "train",
    )
    per_gene = epoch_s / args.genes
    print(f"training: one epoch of {args.genes} genes in {epoch_s:.1f} s ({per_gene * 1e3:.0f} ms "
          f"per gene; {per_gene / per_full:.1f}x a full forward)")
    cpu = CPU_SECONDS
    print(
        "CPU seconds: "
        f"full forward {cpu['full'] / n_full:.3f} per haplotype, "
        f"patched {cpu['patched'] / len(haplotypes):.4f} per haplotype "
        f"({cpu['full'] / n_full / (cpu['patched'] / len(haplotypes)):.1f}x), "
        f"ISM {cpu['ism'] / args.snvs:.4f} per SNV, reference cache {cpu['cache']:.2f}, "
        f"training {cpu['train'] / args.genes:.2f} per gene-epoch"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
