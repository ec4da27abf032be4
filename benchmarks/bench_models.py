"""CPU cost of Borzoi and AlphaGenome next to Enformer: one forward of the published architecture, and
the model work of one gene at demo size.

    python benchmarks/bench_models.py [--model borzoi] [--full-window 131072] [--threads 1] [--skip-full]

Full size: random weights of the published architecture (the cost of a forward does not depend on
the weights), one sequence, fp32, through the engine as a run uses it (the trunk, then the rest at
the readout's bins for one track), the trunk alone, and ISM of one SNV from the trunk cache; wall
and CPU seconds, peak host memory. `--full-window` runs AlphaGenome's published widths on a shorter
window (its 1,048,576 bp needs more memory than a 24 GiB machine shared with others has).

Demo size: the small random configuration on a 16,384-bp window, timed per distinct haplotype
(batches of 8), per SNV of cached ISM and per gradient x input; one gene of the demo (300 people,
132 distinct haplotypes, 134 SNVs, docs/benchmarks.md) is projected from those rates.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compute.engine.attribution import grad_x_input, ism  # noqa: E402
from compute.engine.model import ModelSpec, member_bins, score_tokens  # noqa: E402
from compute.engine.models import full_size_model, small_model  # noqa: E402

DEMO_WINDOW = 16_384
DEMO_GENE = dict(haplotypes=132, snvs=134)  # the demo's median gene (docs/benchmarks.md)
SPECS = {  # the model's default readout; a 9-bin exon set for the exon readouts
    "enformer": lambda m: ModelSpec(track=4980),
    "borzoi": lambda m: ModelSpec(
        track=7539, bins=exon_like(m), summary="log1p_sum", reverse_complement=True
    ),
    "alphagenome": lambda m: ModelSpec(track=0, head="rna_seq", bins=exon_like(m), summary="sum"),
}


def exon_like(model) -> tuple[int, ...]:
    """Nine bins after the TSS bin, as a gene's first exons would be."""
    t = model.tss_bin()
    return tuple(range(t, min(t + 9, model.n_bins)))


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def full_size(name: str, window: int | None) -> dict:
    model = full_size_model(0, model=name, device="cpu")
    if window and model.flexible_window:
        model = model.with_window(window)
    spec = SPECS[name](model)
    bins = model.resolve_bins(spec)
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(0, 4, size=(1, model.window)).astype(np.uint8))
    x = torch.eye(5, 4)[tokens.long()]
    with torch.inference_mode():
        t, trunk_wall, trunk_cpu = timed(lambda: model.trunk(x))
        positions = member_bins(model, bins, False)
        _, rest_wall, rest_cpu = timed(lambda: model.head_values(t, positions, spec.head, spec.track))
    one = replace(spec, reverse_complement=False)  # one strand: one forward
    _, fwd_wall, fwd_cpu = timed(lambda: score_tokens(model, tokens, one, batch_size=1))
    ref = tokens[0].numpy()
    offset = np.array([model.window // 2 + 17])
    alt = np.array([(ref[offset[0]] + 1) % 4], dtype=np.uint8)
    _, ism_wall, ism_cpu = timed(lambda: ism(model, one, ref, offset, alt, batch_size=1))
    return {
        "model": name, "window": model.window, "parameters": sum(p.numel() for p in model.net.parameters()),
        "trunk": [trunk_wall, trunk_cpu], "rest_one_track": [rest_wall, rest_cpu],
        "whole_forward": [fwd_wall, fwd_cpu],
        "ism_one_snv_cached_incl_reference": [ism_wall, ism_cpu], "peak_gib": peak_gib(),
    }  # fmt: skip


def demo_size(name: str) -> dict:
    model = small_model(1, model=name, window=DEMO_WINDOW, device="cpu")
    spec = SPECS[name](model)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 4, size=(16, DEMO_WINDOW)).astype(np.uint8)
    score_tokens(model, tokens[:8], spec, batch_size=8)  # warm up
    _, wall, cpu = timed(lambda: score_tokens(model, tokens, spec, batch_size=8))
    per_hap = cpu / len(tokens)
    ref = tokens[0]
    offsets = np.sort(rng.choice(np.arange(100, DEMO_WINDOW - 100), size=16, replace=False))
    alt = ((ref[offsets] + 1) % 4).astype(np.uint8)
    _, _, ism_cpu = timed(lambda: ism(model, spec, ref, offsets, alt, batch_size=8))
    _, _, grad_cpu = timed(lambda: grad_x_input(model, spec, ref, offsets, alt))
    per_snv = ism_cpu / len(offsets)
    gene = DEMO_GENE["haplotypes"] * per_hap + DEMO_GENE["snvs"] * per_snv + grad_cpu
    return {
        "model": name, "window": DEMO_WINDOW, "parameters": sum(p.numel() for p in model.net.parameters()),
        "cpu_s_per_haplotype": per_hap, "haplotypes_per_s_wall": len(tokens) / wall,
        "cpu_s_per_snv_ism": per_snv, "cpu_s_gradients": grad_cpu, "cpu_s_per_demo_gene": gene,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=sorted(SPECS), help="default: all three")
    parser.add_argument("--full-window", type=int, default=131_072, help="AlphaGenome's full-size window")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-full", action="store_true", help="demo size only")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    results = []
    for name in args.model or ["enformer", "borzoi", "alphagenome"]:
        demo = demo_size(name)
        results.append(demo)
        print(f"{name} demo size ({demo['parameters']:,} parameters, {DEMO_WINDOW:,} bp): "
              f"{demo['cpu_s_per_haplotype']:.3f} CPU s per haplotype, {demo['cpu_s_per_snv_ism']:.3f} per "
              f"SNV of ISM, gradients {demo['cpu_s_gradients']:.2f}; one demo gene "
              f"{demo['cpu_s_per_demo_gene']:.1f} CPU s")  # fmt: skip
        if not args.skip_full:
            full = full_size(name, args.full_window)
            results.append(full)
            print(f"{name} full size ({full['parameters']:,} parameters, {full['window']:,} bp): "
                  + ", ".join(f"{k} {v[0]:.1f} s wall / {v[1]:.1f} s CPU" for k, v in full.items()
                              if isinstance(v, list))
                  + f"; peak {full['peak_gib']:.1f} GiB")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
