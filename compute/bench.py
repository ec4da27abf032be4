"""Throughput benchmark: `python -m compute bench [--device] [--config small|full] [--seconds N]`.

Measures in one run, on random weights (the cost does not depend on them):
- naive: enformer-pytorch's own forward, one sequence at a time, fp32, all tracks;
- engine: `score_tokens` in batches, fp32 and bf16 autocast (optionally torch.compile);
- ISM: a full forward per SNV against the conv-tower cache (`compute.attribution.ism`);
- the split of one forward into conv tower and the rest, which bounds the cache's gain;
and checks correctness in the same run: bf16 vs fp32 scores, cached vs full ISM.
Ratios are against the naive loop of the same run. On CPU the full-size
configuration (~tens of seconds per forward) times the parts of a single forward.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from compute.attribution import ism, snv_slices
from compute.model import (
    Model,
    ModelSpec,
    after_tower,
    full_size_model,
    member_bins,
    one_hot,
    score_tokens,
    small_model,
    tower,
)

# The full study of the paper: genes x people x 2 haplotypes forwards, plus ISM per SNV.
STUDY_GENES = 6_825
STUDY_PEOPLE = 839
STUDY_SNVS_PER_GENE = 3_000


@dataclass
class BenchOptions:
    device: str = "auto"
    config: str = "small"  # small | full
    seconds: float = 5.0  # time per measurement (at least one call)
    batch_size: int = 8
    n_snvs: int = 32
    compile: bool = False
    seed: int = 0


def _timed_rate(fn: Callable[[], object], items: int, seconds: float, warmup: bool = True) -> float:
    """Items per second of `fn` (which handles `items` items per call), repeated for ~`seconds`."""
    if warmup:
        fn()
    _sync()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        _sync()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * items / elapsed


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    _sync()
    start = time.perf_counter()
    out = fn()
    _sync()
    return out, time.perf_counter() - start


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _inputs(model: Model, n: int, n_snvs: int, seed: int):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, model.window)).astype(np.uint8)
    offsets = np.sort(rng.choice(model.window, n_snvs, replace=False))
    alt = ((tokens[0, offsets] + rng.integers(1, 4, n_snvs)) % 4).astype(np.uint8)
    return tokens, offsets, alt


def forward_parts(model: Model, spec: ModelSpec, n_slices: int) -> dict:
    """Seconds of one forward split into conv tower and rest, and of one SNV's tower slice."""
    bins = model.resolve_bins(spec)
    tokens, offsets, alt = _inputs(model, 1, n_slices, seed=1)
    enf = model.enformer
    with torch.inference_mode():
        x = one_hot(torch.from_numpy(tokens).to(model.device), model.dtype)
        t, tower_s = _timed(lambda: tower(enf, x))
        _, rest_s = _timed(
            lambda: after_tower(enf, t, member_bins(model, bins, False), spec.head, spec.track)
        )
        _, _, _, width = snv_slices(model, offsets)
        slices = one_hot(torch.from_numpy(tokens[:, :width]).to(model.device), model.dtype)
        slices = slices.expand(n_slices, -1, -1).contiguous()
        _, slice_s = _timed(lambda: tower(enf, slices))
    return dict(
        tower_s=tower_s,
        rest_s=rest_s,
        slice_bp=width,
        slice_tower_s_per_snv=slice_s / n_slices,
        tower_fraction=tower_s / (tower_s + rest_s),
        ism_cache_bound=(tower_s + rest_s) / (rest_s + slice_s / n_slices),
    )


def run_benchmark(options) -> dict:
    """Run the benchmark described in the module docstring; returns the figures as a dict."""
    o = BenchOptions(**{k: getattr(options, k) for k in asdict(BenchOptions()) if hasattr(options, k)})
    if o.config == "small":
        model = small_model(o.seed, device=o.device)
    elif o.config == "full":
        model = full_size_model(o.seed, device=o.device)
    else:
        raise ValueError(f"config {o.config!r}: expected small or full")
    cpu_full = o.config == "full" and model.device.type == "cpu"
    spec = ModelSpec()
    result: dict = dict(
        options=asdict(o),
        device=_describe(model.device),
        window=model.window,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
    )
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    result["parts"] = forward_parts(model, spec, n_slices=1 if cpu_full else o.n_snvs)
    if cpu_full:
        # One full-size forward on CPU takes tens of seconds: the parts above are the measurement.
        parts = result["parts"]
        result["naive_seq_per_s"] = 1.0 / (parts["tower_s"] + parts["rest_s"])
        result["ism_cached_snv_per_s_estimate"] = 1.0 / (parts["rest_s"] + parts["slice_tower_s_per_snv"])
        _print(result)
        return result

    tokens, offsets, alt = _inputs(model, o.batch_size, o.n_snvs, o.seed)
    x_one = torch.from_numpy(tokens[:1]).long().to(model.device)

    def naive():
        with torch.no_grad():
            return model.enformer(one_hot(x_one.to(torch.uint8), model.dtype))["human"]

    result["naive_seq_per_s"] = _timed_rate(naive, 1, o.seconds)
    fp32 = ModelSpec()
    bf16 = ModelSpec(precision="bf16", compile=o.compile)
    n = tokens.shape[0]
    result["engine_fp32_seq_per_s"] = _timed_rate(
        lambda: score_tokens(model, tokens, fp32, batch_size=o.batch_size), n, o.seconds
    )
    result["engine_bf16_seq_per_s"] = _timed_rate(
        lambda: score_tokens(model, tokens, bf16, batch_size=o.batch_size), n, o.seconds
    )
    a = score_tokens(model, tokens, fp32, batch_size=o.batch_size)
    b = score_tokens(model, tokens, bf16, batch_size=o.batch_size)
    result["bf16_vs_fp32_max_abs"] = float(np.abs(a - b).max())

    ref = tokens[0]
    result["ism_full_snv_per_s"] = _timed_rate(
        lambda: ism(model, fp32, ref, offsets, alt, method="full", batch_size=o.batch_size),
        o.n_snvs,
        o.seconds,
    )
    result["ism_cached_snv_per_s"] = _timed_rate(
        lambda: ism(model, fp32, ref, offsets, alt, batch_size=o.batch_size), o.n_snvs, o.seconds
    )
    full = ism(model, fp32, ref, offsets, alt, method="full", batch_size=o.batch_size)
    cached = ism(model, fp32, ref, offsets, alt, batch_size=o.batch_size)
    result["ism_cached_vs_full_max_abs"] = float(np.abs(cached - full).max())
    result["ism_cached_vs_full_max_rel"] = float(np.abs(cached - full).max() / np.abs(full).max())

    naive_rate = result["naive_seq_per_s"]
    result["engine_fp32_vs_naive"] = result["engine_fp32_seq_per_s"] / naive_rate
    result["engine_bf16_vs_naive"] = result["engine_bf16_seq_per_s"] / naive_rate
    result["ism_cached_vs_full"] = result["ism_cached_snv_per_s"] / result["ism_full_snv_per_s"]
    result["ism_cached_vs_engine_fp32"] = result["ism_cached_snv_per_s"] / result["engine_fp32_seq_per_s"]
    if o.config == "full":
        seq_rate = max(result["engine_fp32_seq_per_s"], result["engine_bf16_seq_per_s"])
        forwards = STUDY_GENES * STUDY_PEOPLE * 2
        snvs = STUDY_GENES * STUDY_SNVS_PER_GENE
        result["study_hours"] = (forwards / seq_rate + snvs / result["ism_cached_snv_per_s"]) / 3600
        result["study_hours_naive"] = (forwards + snvs) / naive_rate / 3600
    if model.device.type == "cuda":
        result["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    _print(result)
    return result


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def _print(result: dict) -> None:
    print(
        f"benchmark: {result['options']['config']} config, window {result['window']:,} bp, "
        f"{result['device']}, torch {result['torch']}, {result['date']}"
    )
    rows = [
        (k, v) for k, v in result.items() if isinstance(v, float | int) and k not in ("window", "threads")
    ]
    rows += [(f"parts.{k}", v) for k, v in result["parts"].items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value:.4g}" if isinstance(value, float) else f"  {key:<{width}}  {value}")
