"""Cost of the all-track head: both gene scores in one pass vs the single track alone, vs two passes.

    python benchmarks/bench_track_heads.py [--sequences 32] [--window 16384] [--dim 96] [--repeats 3]

A small random Enformer with the published layout (5,313 human tracks) and the
published weights file (data/published/source/GTExWeights.csv, 697 non-zero
track weights). Three ways to score the same sequences, timed in this run:
`score_tokens` (single track only: the baseline), `score_tokens_heads` (single
track and all-track score in one pass), and two passes (the single track, then
a full-output forward through enformer-pytorch with the weighted sum on every
track). The two scores of the one-pass head must equal those of the other ways.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compute.engine.model import ModelSpec, score_tokens  # noqa: E402
from compute.engine.models import small_model  # noqa: E402
from compute.engine.track_heads import load_track_weights, score_tokens_heads  # noqa: E402

WEIGHTS = ROOT / "data" / "published" / "source" / "GTExWeights.csv"


def best_of(repeats: int, func) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def full_output_scores(model, spec, weights, tokens, batch_size) -> np.ndarray:
    """All 5,313 tracks from the library's forward, then the weighted sum of per-track sum_log."""
    bins = list(model.resolve_bins(spec))
    out = []
    with torch.inference_mode():
        for i in range(0, len(tokens), batch_size):
            values = model.net(torch.from_numpy(tokens[i : i + batch_size]).long())["human"]
            out.append(torch.log(values[:, bins]).sum(1).double().numpy() @ weights.weights + weights.offset)
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--window", type=int, default=16_384)
    parser.add_argument("--dim", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model = small_model(args.seed, window=args.window, device="cpu", dim=args.dim, target_length=64)
    weights = load_track_weights(WEIGHTS)
    spec = ModelSpec()
    rng = np.random.default_rng(args.seed)
    tokens = rng.integers(0, 4, size=(args.sequences, args.window)).astype(np.uint8)
    bs = args.batch_size

    single_s, single = best_of(args.repeats, lambda: score_tokens(model, tokens, spec, batch_size=bs))
    heads_s, heads = best_of(
        args.repeats, lambda: score_tokens_heads(model, spec, weights, tokens, batch_size=bs)
    )
    two_s, full = best_of(
        args.repeats,
        lambda: (
            score_tokens(model, tokens, spec, batch_size=bs),
            full_output_scores(model, spec, weights, tokens, bs),
        ),
    )
    assert np.allclose(heads.single, single, rtol=1e-5, atol=1e-6)
    assert np.allclose(heads.all_tracks, full[1], rtol=1e-5, atol=1e-5)

    machine = platform.processor() or platform.machine()
    print(f"{machine}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.sequences} sequences of {args.window:,} bp, dim {args.dim}, batch {bs}")
    print(f"single track only (baseline)        {single_s:8.3f} s   1.00x")
    print(f"single + all tracks, one pass        {heads_s:8.3f} s   {heads_s / single_s:.2f}x")
    print(f"single, then full-output all tracks  {two_s:8.3f} s   {two_s / single_s:.2f}x")
    print("scores agree: one pass == single track and == full-output weighted sum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
