"""Borzoi and AlphaGenome at full size on the device: forwards per second in fp32 and bf16 (autocast),
peak GPU memory of each, and how far bf16's gene scores are from fp32's. benchmarks/gpu.sh runs it.

    python benchmarks/gpu_models.py --device cuda --json OUT.json [--model borzoi] [--seconds 3]
    python benchmarks/gpu_models.py --device cpu --config small     # the dry run: small random models

Random weights of the published architectures (a forward's cost does not depend on the weights):
Borzoi on 524,288 bp, AlphaGenome on 1,048,576 bp, batch 1, each read at its default readout for one
strand (bench_models.SPECS): one forward per sequence. Flashzoi (borzoi-pytorch's flashed=True)
needs flash-attn, which the device image lacks: not timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_models import SPECS  # noqa: E402
from compute.engine.model import pick_device, score_tokens  # noqa: E402
from compute.engine.models import full_size_model, small_model  # noqa: E402

SMALL_WINDOW = 2048  # the dry run: Borzoi's fixed convolution widths make longer windows slow on CPU


def measure(name: str, config: str, device: torch.device, seconds: float) -> dict:
    if config == "full":
        model = full_size_model(0, model=name, device=device)
    else:
        model = small_model(0, model=name, window=SMALL_WINDOW, device=device)
    spec = replace(SPECS[name](model), reverse_complement=False)
    tokens = np.random.default_rng(0).integers(0, 4, size=(1, model.window)).astype(np.uint8)
    parameters = sum(p.numel() for p in model.net.parameters())
    row = {"model": name, "window": model.window, "parameters": parameters}
    scores = {}
    for precision in ("fp32", "bf16"):
        run = replace(spec, precision=precision)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        scores[precision] = score_tokens(model, tokens, run, batch_size=1)  # warm-up; compared below
        n, start = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - start < seconds:  # score_tokens returns on the host: synced
            score_tokens(model, tokens, run, batch_size=1)
            n += 1
        row[f"{precision}_forwards_per_s"] = n / (time.perf_counter() - start)
        if device.type == "cuda":
            row[f"{precision}_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    diff = np.abs(scores["bf16"] - scores["fp32"])
    row["bf16_vs_fp32_max_abs"] = float(diff.max())
    row["bf16_vs_fp32_max_rel"] = float((diff / np.maximum(np.abs(scores["fp32"]), 1e-12)).max())
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=["borzoi", "alphagenome"], help="default: both")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--config", choices=["small", "full"], default="full")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (at least one call)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    device = pick_device(args.device)
    results = []
    for name in args.model or ["borzoi", "alphagenome"]:
        row = measure(name, args.config, device, args.seconds)
        results.append(row)
        print(json.dumps(row))
        if args.json:  # after each model, so a run cut off keeps what it measured
            Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
