"""Throughput benchmark: `python -m compute bench [--device] [--config small|full] [--seconds N]`.

Measures in one run, on random weights (the cost of a forward does not depend on them):
- naive: enformer-pytorch's own forward, one sequence at a time, fp32, all 5,313 tracks,
  every person's haplotypes (as the enformer-pytorch README scores a sequence);
- engine: `compute.engine.model.score_tokens` in batches, fp32 and bf16 autocast (with
  `--compile` also under torch.compile), and the pipeline's haplotype path
  (`compute.engine.prefetch.score_window_haplotypes`: one-hot batches built by
  `compute.cohort.haplotypes` on CPU worker threads, pinned memory on CUDA, each distinct
  haplotype scored once) on real 1000 Genomes genotypes, with and without the workers,
  against batches built on the device (`compute.engine.model.score_haplotypes`);
- ISM: a full forward per SNV against the conv-tower cache (`compute.engine.attribution.ism`);
- duplicate haplotypes: the share of distinct haplotypes in 196,608-bp windows of the
  real phased genotypes (and in windows of the model's length);
- the model work of one gene (haplotype scores, reference score, cached ISM of every
  window SNV, gradient x input), as `compute.run.gene.GeneWorker` runs it;
and checks correctness in the same run: bf16 vs fp32 scores, cached vs full ISM,
the haplotype path vs scoring every haplotype one by one. Ratios are against the
naive loop of the same run. Projected hours for the full study use the measured
rates and the formula printed with them. `--profile` adds a torch.profiler summary.

On CPU the full-size configuration (tens of seconds per forward) times the parts
of a single forward instead: conv tower, the rest, and one SNV's tower slice.
"""

from __future__ import annotations

import platform
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from compute.cohort.haplotypes import (
    WindowVariants,
    open_vcf,
    personal_haplotypes,
    unique_haplotypes,
    window_variants,
)
from compute.cohort.reference import WINDOW, encode
from compute.engine.attribution import grad_x_input, ism, snv_slices
from compute.engine.model import Model, ModelSpec, member_bins, one_hot, score_haplotypes, score_tokens
from compute.engine.models import full_size_model, small_model
from compute.engine.prefetch import score_window_haplotypes
from compute.errors import InputError

# The full study of the paper: genes x people x 2 haplotypes forwards, plus ISM per SNV.
STUDY_GENES = 6_825
STUDY_PEOPLE = 839
STUDY_SNVS_PER_GENE = 3_000
DEFAULT_VCF = Path(__file__).resolve().parents[2] / "data" / "external" / "shapeit4" / "reference.vcf.gz"

PROJECTION_FORMULA = (
    "hours = genes x (2 x people x distinct_fraction / forwards_per_s"
    " + snvs_per_gene / ism_snvs_per_s) / 3600"
)
NAIVE_FORMULA = "naive hours = genes x (2 x people + snvs_per_gene) / naive_seq_per_s / 3600"


@dataclass
class BenchOptions:
    device: str = "auto"
    config: str = "small"  # small | full
    seconds: float = 5.0  # time per measurement (at least one call)
    batch_size: int = 8
    n_snvs: int = 32
    window: int = 4096  # small config only
    hparams: str | None = None  # small config only: JSON of Enformer.from_hparams overrides
    compile: bool = False
    compile_backend: str = "inductor"
    workers: int = 1
    people: int = 0  # the first people of the VCF in the haplotype figures; 0 = all
    vcf: str | None = None  # phased VCF for the haplotype set; default the shapeit4 1000 Genomes example
    profile: bool = False
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    seed: int = 0


# --------------------------------------------------------------------------- timing


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


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
    """(result, wall seconds) of one call."""
    out, wall, _ = _timed_cpu(fn)
    return out, wall


def _timed_cpu(fn: Callable[[], object]) -> tuple[object, float, float]:
    """(result, wall seconds, CPU seconds of this process summed over its threads) of one call.

    On a shared machine the CPU seconds of a one-thread run are what the call costs on an idle core.
    """
    _sync()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    _sync()
    return out, time.perf_counter() - wall, time.process_time() - cpu


# --------------------------------------------------------------------------- inputs


def _inputs(model: Model, n: int, n_snvs: int, seed: int):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, model.window)).astype(np.uint8)
    offsets = np.sort(rng.choice(model.window, n_snvs, replace=False))
    alt = ((tokens[0, offsets] + rng.integers(1, 4, n_snvs)) % 4).astype(np.uint8)
    return tokens, offsets, alt


@dataclass
class RealWindow:
    """Real phased genotypes of one window, on a random reference (no chr20 FASTA is offline:
    the cost does not depend on the bases). `start0` is the window's 0-based chromosome start."""

    variants: WindowVariants
    start0: int
    ref_tokens: np.ndarray
    offsets: np.ndarray
    alt_tokens: np.ndarray


def _vcf_path(options: BenchOptions) -> Path:
    path = Path(options.vcf) if options.vcf else DEFAULT_VCF
    if not path.is_file():
        raise InputError(
            f"{path}: phased VCF for the benchmark's haplotype set not found "
            "(run `bash data/fetch_debian_data.sh`, or give --vcf)"
        )
    return path


def _vcf_span(vcf_path: Path) -> tuple[str, np.ndarray, list[str]]:
    """(chrom, record positions, samples) of the first chromosome of an indexed VCF."""
    vcf = open_vcf(vcf_path)
    try:
        people = list(vcf.samples)
        first = next(iter(vcf), None)
        if first is None:
            raise InputError(f"{vcf_path}: no records; expected phased genotypes")
        positions = np.array([rec.POS for rec in vcf(first.CHROM)], dtype=np.int64)
    finally:
        vcf.close()
    return first.CHROM, positions, people


def duplicate_haplotypes(vcf_path: Path, window: int = WINDOW, n_people: int = 0) -> dict:
    """Distinct haplotypes per window over windows of `window` bp tiling the VCF's first chromosome,
    for its first `n_people` people (0: all).

    Counts distinct allele-code rows (`compute.cohort.haplotypes.unique_haplotypes`), i.e.
    haplotypes whose sequences differ inside the window.
    """
    chrom, positions, people = _vcf_span(vcf_path)
    people = people[:n_people] if n_people else people
    n_snvs, n_unique = [], []
    for start0 in range(positions[0] - 1, positions[-1], window):
        wv = window_variants(vcf_path, chrom, start0, start0 + window, people)
        n_snvs.append(wv.n_snvs)
        n_unique.append(len(unique_haplotypes(wv.codes)[0]))
    n_haps = 2 * len(people)
    unique = np.array(n_unique)
    return dict(
        window=window,
        people=len(people),
        windows=len(unique),
        median_snvs=float(np.median(n_snvs)),
        median_distinct=float(np.median(unique)),
        distinct_fraction=float(unique.sum() / (n_haps * len(unique))),
        min_distinct=int(unique.min()),
        max_distinct=int(unique.max()),
    )


def real_window(vcf_path: Path, length: int, seed: int, n_people: int = 0) -> RealWindow:
    """The window of `length` bp with the median record count among those tiling the VCF's span,
    for the first `n_people` people of the VCF (0: all)."""
    chrom, positions, people = _vcf_span(vcf_path)
    people = people[:n_people] if n_people else people
    starts = np.arange(positions[0] - 1, max(positions[-1] - length, positions[0]), length)
    ends = np.searchsorted(positions, starts + length, side="right")
    counts = ends - np.searchsorted(positions, starts + 1)
    start0 = int(starts[np.argsort(counts, kind="stable")[len(starts) // 2]])
    wv = window_variants(vcf_path, chrom, start0, start0 + length, people)
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, length).astype(np.uint8)
    offsets = wv.variants["pos"].to_numpy() - 1 - start0
    ref[offsets] = encode("".join(wv.variants["ref"]))
    alt = wv.alt_tokens
    return RealWindow(wv, start0, ref, offsets, alt)


# --------------------------------------------------------------------------- measurements


def forward_parts(model: Model, spec: ModelSpec, n_slices: int) -> dict:
    """Seconds of one forward split into conv tower and rest, and of one SNV's tower slice."""
    bins = model.resolve_bins(spec)
    tokens, offsets, alt = _inputs(model, 1, n_slices, seed=1)
    with torch.inference_mode():
        x = one_hot(torch.from_numpy(tokens).to(model.device), model.dtype)
        t, tower_s, tower_cpu = _timed_cpu(lambda: model.trunk(x))
        _, rest_s, rest_cpu = _timed_cpu(
            lambda: model.head_values(t, member_bins(model, bins, False), spec.head, spec.track)
        )
        _, _, _, width = snv_slices(model, offsets)
        slices = one_hot(torch.from_numpy(tokens[:, :width]).to(model.device), model.dtype)
        slices = slices.expand(n_slices, -1, -1).contiguous()
        _, slice_s, slice_cpu = _timed_cpu(lambda: model.trunk(slices))
    return dict(
        tower_s=tower_s,
        rest_s=rest_s,
        tower_cpu_s=tower_cpu,
        rest_cpu_s=rest_cpu,
        slice_bp=width,
        slice_tower_s_per_snv=slice_s / n_slices,
        slice_tower_cpu_s_per_snv=slice_cpu / n_slices,
        tower_fraction=tower_s / (tower_s + rest_s),
        ism_cache_bound=(tower_s + rest_s) / (rest_s + slice_s / n_slices),
    )


def _naive_haplotype_scores(model: Model, spec: ModelSpec, win: RealWindow, limit: int) -> np.ndarray:
    """The first `limit` haplotypes scored one at a time through enformer-pytorch's own forward."""
    bins = list(model.resolve_bins(spec))
    out = []
    with torch.no_grad():
        for _, _, tokens in personal_haplotypes(win.ref_tokens, win.variants, win.start0, batch_size=1):
            x = one_hot(torch.from_numpy(tokens).to(model.device), model.dtype)
            values = model.net(x)[spec.head][0, bins, spec.track]
            out.append(torch.log(values).sum().item())
            if len(out) == limit:
                break
    return np.array(out)


def profile_summary(fn: Callable[[], object], device: torch.device, rows: int = 15) -> str:
    """torch.profiler table of one call of `fn`: the operators with the most self time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        _sync()
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=rows, max_name_column_width=40)


def project_study(
    forwards_per_s: float, ism_snv_per_s: float, distinct_fraction: float, naive_seq_per_s: float
) -> dict:
    """Hours for the full study at the measured rates (formulas in PROJECTION_FORMULA, NAIVE_FORMULA)."""
    haplotypes = 2 * STUDY_PEOPLE * distinct_fraction
    per_gene = haplotypes / forwards_per_s + STUDY_SNVS_PER_GENE / ism_snv_per_s
    naive_per_gene = (2 * STUDY_PEOPLE + STUDY_SNVS_PER_GENE) / naive_seq_per_s
    return dict(
        study_hours=STUDY_GENES * per_gene / 3600,
        study_hours_naive=STUDY_GENES * naive_per_gene / 3600,
        study_speedup=naive_per_gene / per_gene,
    )


# --------------------------------------------------------------------------- the run


def run_benchmark(options) -> dict:
    """Run the benchmark described in the module docstring; returns the figures as a dict."""
    o = BenchOptions(**{k: getattr(options, k) for k in asdict(BenchOptions()) if hasattr(options, k)})
    if o.config not in ("small", "full"):
        raise InputError(f"--config {o.config!r}: expected small or full")
    if o.batch_size < 1 or o.n_snvs < 1 or min(o.workers, o.seconds, o.people, o.threads) < 0:
        raise InputError(
            "--batch-size and --snvs must be at least 1; --workers, --seconds, --people and --threads "
            "at least 0"
        )
    vcf_path = _vcf_path(o)
    saved_threads = torch.get_num_threads()
    if o.threads:
        torch.set_num_threads(o.threads)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = _run(o, vcf_path)
        # Near 1 on an idle machine; lower when other work shares the cores (wall times then inflate).
        result["cpu_share"] = (time.process_time() - cpu) / (time.perf_counter() - wall) / result["threads"]
    finally:
        torch.set_num_threads(saved_threads)
    _print(result)
    return result


def _run(o: BenchOptions, vcf_path: Path) -> dict:
    if o.config == "small":
        model = small_model(o.seed, window=o.window, device=o.device, **_hparams(o.hparams))
    else:
        model = full_size_model(o.seed, device=o.device)
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

    result["haplotypes_full_window"] = duplicate_haplotypes(vcf_path, WINDOW, o.people)
    distinct = result["haplotypes_full_window"]["distinct_fraction"]

    if cpu_full:
        # One full-size forward on CPU takes tens of seconds: the parts of one are the measurement.
        def measure():
            result["parts"] = forward_parts(model, spec, n_slices=1)

        if o.profile:
            result["profile"] = profile_summary(measure, model.device)
        else:
            measure()
        parts = result["parts"]
        result["naive_seq_per_s"] = 1.0 / (parts["tower_s"] + parts["rest_s"])
        result["forward_cpu_s"] = parts["tower_cpu_s"] + parts["rest_cpu_s"]
        result["ism_cached_snv_per_s_estimate"] = 1.0 / (parts["rest_s"] + parts["slice_tower_s_per_snv"])
        result["projection"] = project_study(
            result["naive_seq_per_s"], result["ism_cached_snv_per_s_estimate"], distinct,
            result["naive_seq_per_s"],
        )  # fmt: skip
        # The same from CPU seconds: what the run costs on cores nobody else uses.
        cpu_ism = 1.0 / (parts["rest_cpu_s"] + parts["slice_tower_cpu_s_per_snv"])
        result["projection_cpu_time"] = project_study(
            1.0 / result["forward_cpu_s"], cpu_ism, distinct, 1.0 / result["forward_cpu_s"]
        )
        result["peak_host_memory_gib"] = _peak_rss_gib()
        return result

    result["parts"] = forward_parts(model, spec, n_slices=o.n_snvs)
    tokens, offsets, alt = _inputs(model, o.batch_size, o.n_snvs, o.seed)
    x_one = torch.from_numpy(tokens[:1]).to(model.device)

    def naive():
        with torch.no_grad():
            return model.net(one_hot(x_one, model.dtype))["human"]

    result["naive_seq_per_s"] = _timed_rate(naive, 1, o.seconds)

    # Batching and precision on random sequences.
    n = tokens.shape[0]
    specs = {"fp32": ModelSpec(), "bf16": ModelSpec(precision="bf16")}
    if o.compile:
        specs |= {
            "fp32_compiled": ModelSpec(compile=True, compile_backend=o.compile_backend),
            "bf16_compiled": ModelSpec(precision="bf16", compile=True, compile_backend=o.compile_backend),
        }
    scores = {}
    for name, s in specs.items():
        if s.compile:
            _, result[f"compile_s_{name}"] = _timed(
                lambda s=s: score_tokens(model, tokens, s, batch_size=o.batch_size)
            )
        result[f"engine_{name}_seq_per_s"] = _timed_rate(
            lambda s=s: score_tokens(model, tokens, s, batch_size=o.batch_size), n, o.seconds
        )
        scores[name] = score_tokens(model, tokens, s, batch_size=o.batch_size)
    result["bf16_vs_fp32_max_abs"] = float(np.abs(scores["bf16"] - scores["fp32"]).max())
    if o.compile:
        result["compiled_vs_eager_fp32_max_abs"] = float(
            np.abs(scores["fp32_compiled"] - scores["fp32"]).max()
        )

    # The pipeline's haplotype path on real genotypes: prefetching workers, duplicate skipping.
    win = real_window(vcf_path, model.window, o.seed, o.people)
    n_haps = 2 * len(win.variants.people)
    result["haplotypes_model_window"] = dict(
        window=model.window,
        snvs=win.variants.n_snvs,
        haplotypes=n_haps,
        distinct=len(unique_haplotypes(win.variants.codes)[0]),
    )
    best = max(("fp32", "fp32_compiled"), key=lambda k: result.get(f"engine_{k}_seq_per_s", 0.0))
    best_spec = specs[best]

    def pipeline(workers: int, dedupe: bool = True, s: ModelSpec = best_spec):
        return score_window_haplotypes(
            model, s, win.ref_tokens, win.variants, win.start0,
            batch_size=o.batch_size, workers=workers, dedupe=dedupe,
        )  # fmt: skip

    result["pipeline_spec"] = best
    result["pipeline_haplotypes_per_s"] = _timed_rate(lambda: pipeline(o.workers), n_haps, o.seconds)
    result["pipeline_no_workers_haplotypes_per_s"] = _timed_rate(lambda: pipeline(0), n_haps, o.seconds)
    result["pipeline_no_dedupe_haplotypes_per_s"] = _timed_rate(
        lambda: pipeline(o.workers, dedupe=False), n_haps, o.seconds
    )
    if np.unique(win.offsets).size == win.offsets.size:
        # The other way to feed the model: each batch built on the device from the reference
        # tokens and the bases at the SNVs (compute.engine.model.score_haplotypes), nothing one-hot
        # on the CPU.
        result["device_built_haplotypes_per_s"] = _timed_rate(
            lambda: score_haplotypes(
                model, best_spec, win.ref_tokens, win.offsets, win.alt_tokens, win.variants.alleles,
                batch_size=o.batch_size,
            ),
            n_haps,
            o.seconds,
        )  # fmt: skip
    check_n = min(n_haps, 4 * o.batch_size)
    naive_scores = _naive_haplotype_scores(model, spec, win, check_n)
    pipe_scores = pipeline(o.workers, s=spec).reshape(-1)[:check_n]
    result["pipeline_vs_naive_max_abs"] = float(np.abs(pipe_scores - naive_scores).max())

    # ISM: full forward per SNV against the conv-tower cache.
    ref = tokens[0]
    result["ism_full_snv_per_s"] = _timed_rate(
        lambda: ism(model, spec, ref, offsets, alt, method="full", batch_size=o.batch_size),
        o.n_snvs,
        o.seconds,
    )
    result["ism_cached_snv_per_s"] = _timed_rate(
        lambda: ism(model, spec, ref, offsets, alt, batch_size=o.batch_size), o.n_snvs, o.seconds
    )
    full = ism(model, spec, ref, offsets, alt, method="full", batch_size=o.batch_size)
    cached = ism(model, spec, ref, offsets, alt, batch_size=o.batch_size)
    result["ism_cached_vs_full_max_abs"] = float(np.abs(cached - full).max())
    result["ism_cached_vs_full_max_rel"] = float(np.abs(cached - full).max() / np.abs(full).max())

    # The model work of one gene, as compute.run.gene.GeneWorker.model_outputs does it.
    def gene():
        pipeline(o.workers, s=spec)
        score_tokens(model, win.ref_tokens[None], spec)
        ism(model, spec, win.ref_tokens, win.offsets, win.alt_tokens, batch_size=o.batch_size)
        grad_x_input(model, spec, win.ref_tokens, win.offsets, win.alt_tokens)

    _, result["gene_model_s"], result["gene_model_cpu_s"] = _timed_cpu(gene)

    naive_rate = result["naive_seq_per_s"]
    for name in specs:
        result[f"engine_{name}_vs_naive"] = result[f"engine_{name}_seq_per_s"] / naive_rate
    result["pipeline_vs_naive"] = result["pipeline_haplotypes_per_s"] / naive_rate
    result["pipeline_workers_gain"] = (
        result["pipeline_haplotypes_per_s"] / result["pipeline_no_workers_haplotypes_per_s"]
    )
    result["pipeline_dedupe_gain"] = (
        result["pipeline_haplotypes_per_s"] / result["pipeline_no_dedupe_haplotypes_per_s"]
    )
    result["ism_cached_vs_full"] = result["ism_cached_snv_per_s"] / result["ism_full_snv_per_s"]
    forwards_per_s = result["pipeline_no_dedupe_haplotypes_per_s"]
    result["projection"] = project_study(forwards_per_s, result["ism_cached_snv_per_s"], distinct, naive_rate)
    if o.profile:
        result["profile"] = profile_summary(
            lambda: (pipeline(o.workers), ism(model, spec, ref, offsets, alt, batch_size=o.batch_size)),
            model.device,
        )
    if model.device.type == "cuda":
        result["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    result["peak_host_memory_gib"] = _peak_rss_gib()
    return result


def _hparams(text: str | None) -> dict:
    import json

    if not text:
        return {}
    expected = f"--hparams {text!r}: expected a JSON object of hyper-parameters, e.g. '{{\"dim\": 24}}'"
    try:
        hparams = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{expected} ({err})") from None
    if not isinstance(hparams, dict):
        raise InputError(expected)
    return hparams


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def _print(result: dict) -> None:
    o = result["options"]
    print(
        f"benchmark: {o['config']} config, window {result['window']:,} bp, batch {o['batch_size']}, "
        f"{result['device']}, torch {result['torch']}, {result['date']}"
    )
    rows = [
        (k, v) for k, v in result.items() if isinstance(v, float | int) and k not in ("window", "threads")
    ]
    for group in ("parts", "haplotypes_full_window", "haplotypes_model_window", "projection",
                  "projection_cpu_time"):  # fmt: skip
        rows += [(f"{group}.{k}", v) for k, v in result.get(group, {}).items()]
    if "pipeline_spec" in result:
        rows.append(("pipeline_spec", result["pipeline_spec"]))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value:.4g}" if isinstance(value, float) else f"  {key:<{width}}  {value}")
    print(f"  {PROJECTION_FORMULA}")
    print(f"  {NAIVE_FORMULA}")
    print(
        f"  (genes {STUDY_GENES:,}, people {STUDY_PEOPLE}, snvs_per_gene {STUDY_SNVS_PER_GENE:,}, "
        "distinct_fraction from haplotypes_full_window; forwards_per_s: the haplotype path without "
        "duplicate skipping; rates of this run on this device)"
    )
    if "profile" in result:
        print(result["profile"])
