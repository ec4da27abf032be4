"""Enformer: load it (local weights or a small test configuration) and score token batches.

A gene score is one track of the model's output, summarised over a few output
bins around the TSS (DESIGN §4). Sequences arrive as `np.uint8` tokens
(0-4 = A,C,G,T,N, docs/architecture.md) and become one-hot on the device, one
batch at a time. Personal haplotypes are built on the device from the reference
tokens and the bases each haplotype carries at the SNVs, and every distinct
haplotype is scored once.

The forward pass is split into the conv tower (stem + tower, what
`compute.engine.attribution` caches for ISM) and the rest (transformer, crop, final
pointwise layer, head). Only the requested bins and track are taken through the
final pointwise layer and the head, which gives the same numbers as the full
5,313-track output at a fraction of its cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compute.engine.catalog import ENFORMER
from compute.errors import InputError, ModelError

FULL_WINDOW = ENFORMER.window
OFFICIAL_WEIGHTS = "EleutherAI/enformer-official-rough"
SUMMARIES = ("sum_log", "sum")
PRECISIONS = ("fp32", "bf16")
MAX_SHIFT = 3
# Complement of tokens 0-4 (A,C,G,T,N -> T,G,C,A,N).
COMPLEMENT = (3, 2, 1, 0, 4)

EXPORT_HINT = (
    "make one on a machine with internet access with `python -m compute weights export DIR` "
    f"(downloads {OFFICIAL_WEIGHTS} and saves it with save_pretrained), then copy DIR here"
)


@dataclass(frozen=True)
class ModelSpec:
    """What a gene score is: which track, which bins, which summary, and how it is computed.

    bins: output-bin indices of the model; None means the bin holding the TSS
    (window index L // 2) and its two neighbours (447, 448, 449 for the full model).
    summary: "sum_log" sums log(value) over the bins (the paper's text), "sum" sums
    the values (the authors' ISM code).
    reverse_complement / shifts: test-time ensemble; the track values of every
    member (each shift, forward and, if asked, reverse complement) are averaged
    bin by bin before the summary.
    """

    track: int = ENFORMER.default_track
    bins: tuple[int, ...] | None = None
    summary: str = "sum_log"
    precision: str = "fp32"
    compile: bool = False
    reverse_complement: bool = False
    shifts: tuple[int, ...] = (0,)
    head: str = "human"

    def members(self) -> list[tuple[int, bool]]:
        """Ensemble members as (shift in bp, reverse complement)."""
        strands = (False, True) if self.reverse_complement else (False,)
        return list(itertools.product(self.shifts, strands))


@dataclass
class Model:
    """A loaded Enformer in eval mode on its device, with the window length it takes."""

    enformer: nn.Module
    device: torch.device
    window: int
    source: str
    _compiled: dict = field(default_factory=dict, repr=False)

    @property
    def dtype(self) -> torch.dtype:
        """Parameter dtype (float32; float64 in exactness tests)."""
        return next(self.enformer.parameters()).dtype

    @property
    def bin_size(self) -> int:
        return 2 ** int(self.enformer.config.num_downsamples)

    @property
    def n_tower(self) -> int:
        """Positions after the conv tower (1,536 for the full model)."""
        return self.window // self.bin_size

    @property
    def crop(self) -> tuple[int, int]:
        """(first tower position kept, number of output bins), as TargetLengthCrop does it."""
        n, target = self.n_tower, int(self.enformer.target_length)
        if target == -1:
            return 0, n
        trim = (target - n) // 2
        if trim == 0:
            return 0, n
        return -trim, n + 2 * trim

    @property
    def n_bins(self) -> int:
        return self.crop[1]

    def n_tracks(self, head: str = "human") -> int:
        return int(self.enformer.output_heads[head])

    def tss_bin(self) -> int:
        """Output bin holding window index L // 2 (448 for the full model)."""
        return (self.window // 2) // self.bin_size - self.crop[0]

    def resolve_bins(self, spec: ModelSpec) -> tuple[int, ...]:
        """The spec's output bins, checked against the model; raises ModelError."""
        check_spec(self, spec)
        if spec.bins is not None:
            return tuple(int(b) for b in spec.bins)
        t = self.tss_bin()
        return (t - 1, t, t + 1)


# --------------------------------------------------------------------------- loading


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" is CUDA when present, else CPU; anything else is checked."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ModelError(f"device {device!r}: expected auto, cpu, cuda or cuda:N ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r}: CUDA is not available on this machine; use --device cpu")
    return dev


def _wrap(enformer: nn.Module, device: str | torch.device, window: int, source: str) -> Model:
    dev = pick_device(device)
    enformer = enformer.to(dev).eval()
    for p in enformer.parameters():
        p.requires_grad_(False)
    model = Model(enformer=enformer, device=dev, window=int(window), source=source)
    check_window(model, model.window)
    return model


def load_model(
    weights_dir: str | Path | None,
    *,
    small: bool | dict = False,
    device: str | torch.device = "auto",
) -> Model:
    """Enformer from a local `save_pretrained` directory, or a small random one.

    weights_dir: directory with config.json and model weights; never fetched from a hub.
    small: True or a dict of hyper-parameters builds `small_model(**dict)` instead
    (tests and the demo); weights_dir must then be None.
    """
    if small:
        if weights_dir is not None:
            raise ModelError("give either a weights directory or a small configuration, not both")
        return small_model(device=device, **(small if isinstance(small, dict) else {}))
    if weights_dir is None:
        raise ModelError(f"no weights directory given (--weights DIR); {EXPORT_HINT}")
    path = Path(weights_dir)
    if not path.is_dir():
        raise ModelError(f"weights directory {path} does not exist; {EXPORT_HINT}")
    if not (path / "config.json").is_file():
        raise ModelError(
            f"weights directory {path} has no config.json (not made by save_pretrained); {EXPORT_HINT}"
        )
    weight_files = [p for p in path.iterdir() if p.name.endswith((".safetensors", ".bin"))]
    if not weight_files:
        raise ModelError(
            f"weights directory {path} has config.json but no model.safetensors or "
            f"pytorch_model.bin; {EXPORT_HINT}"
        )

    from enformer_pytorch import Enformer

    try:
        config = Enformer.config_class.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"weights directory {path}: config.json is unreadable ({err}); {EXPORT_HINT}"
        ) from None
    if getattr(config, "model_type", None) != "enformer":
        raise ModelError(
            f"weights directory {path}: config.json describes a "
            f"{getattr(config, 'model_type', '?')!r} model, expected 'enformer'; {EXPORT_HINT}"
        )
    try:
        enformer = Enformer.from_pretrained(path, local_files_only=True)
    except Exception as err:  # any failure here means the directory is not usable weights
        raise ModelError(
            f"weights directory {path}: cannot load the weights ({err}); {EXPORT_HINT}"
        ) from None
    # The official weights need TensorFlow's gamma positions; the export records it in config.json.
    use_tf_gamma = bool(getattr(enformer.config, "use_tf_gamma", False))
    _set_tf_gamma(enformer, use_tf_gamma)
    window = int(getattr(enformer.config, "sequence_length", FULL_WINDOW))
    return _wrap(enformer, device, window, source=f"weights:{path}")


def _set_tf_gamma(enformer: nn.Module, value: bool) -> None:
    from enformer_pytorch.modeling_enformer import Attention

    enformer.use_tf_gamma = value
    for module in enformer.modules():
        if isinstance(module, Attention):
            module.use_tf_gamma = value


def save_weights(model: Model | nn.Module, out_dir: str | Path) -> Path:
    """Save an Enformer so that `load_model(out_dir)` rebuilds it offline.

    Records the window length in config.json, and writes pytorch_model.bin:
    enformer-pytorch shares tensors between `_trunk` and its named parts, which
    safetensors refuses.
    """
    enformer = model.enformer if isinstance(model, Model) else model
    if isinstance(model, Model):
        enformer.config.sequence_length = model.window
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    enformer.save_pretrained(out, safe_serialization=False)
    return out


def export_weights(out_dir: str | Path, name: str = OFFICIAL_WEIGHTS) -> Path:
    """Download the published Enformer weights and save them to `out_dir` (needs internet).

    The saved config records `use_tf_gamma` and `sequence_length` so that
    `load_model(out_dir)` rebuilds exactly the published model offline.
    """
    from enformer_pytorch import from_pretrained
    from enformer_pytorch.modeling_enformer import Attention

    enformer = from_pretrained(name)  # sets TensorFlow gamma positions on the official weights
    enformer.config.use_tf_gamma = any(m.use_tf_gamma for m in enformer.modules() if isinstance(m, Attention))
    enformer.config.sequence_length = FULL_WINDOW
    return save_weights(enformer, out_dir)


SMALL_DEFAULTS = dict(
    dim=48,
    depth=2,
    heads=2,
    attn_dim_key=16,
    dim_divisible_by=4,
    num_downsamples=7,
    target_length=16,
    output_heads=dict(human=5313),
)


def small_model(
    seed: int = 0, *, window: int = 4096, device: str | torch.device = "auto", **hparams
) -> Model:
    """A small random Enformer with the full architecture's layout (tests, demo, CPU benchmark).

    Same stem, conv tower (128-bp bins), transformer and 5,313-track human head
    as the published model, with small widths and a short window. Weights are
    drawn from `seed`; the layers enformer-pytorch initialises to zero or to
    identity statistics (attention output, batch-norm running statistics) are
    drawn too, and weights are scaled to keep unit variance, so that every part of
    the model changes the output.
    """
    params = {**SMALL_DEFAULTS, **hparams, "sequence_length": int(window)}
    return _wrap(_random_enformer(seed, params), device, window, source=f"small(seed={seed})")


def full_size_model(seed: int = 0, *, device: str | torch.device = "auto") -> Model:
    """The published architecture (dim 1,536, depth 11, 196,608 bp, TF gamma positions), random weights.

    For benchmarks: the cost of a forward pass does not depend on the weights.
    """
    params = dict(output_heads=dict(human=5313), use_tf_gamma=True, sequence_length=FULL_WINDOW)
    return _wrap(_random_enformer(seed, params), device, FULL_WINDOW, source=f"full-size(seed={seed})")


def _random_enformer(seed: int, params: dict) -> nn.Module:
    from enformer_pytorch import Enformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enformer = Enformer.from_hparams(**params)
        with torch.no_grad():
            for module in enformer.modules():
                if isinstance(module, nn.BatchNorm1d):
                    module.running_mean.normal_(0.0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0.0, 0.1)
                if isinstance(module, (nn.Conv1d, nn.Linear)):
                    # Unit-variance-preserving weights; the library's defaults (and the zero
                    # attention output) leave a random model almost blind to its input.
                    module.weight.normal_(0.0, module.weight[0].numel() ** -0.5)
    return enformer


# --------------------------------------------------------------------------- checks


def check_window(model: Model, length: int) -> None:
    """Raise ModelError unless `length` bp fits the model and its output bins cover the TSS."""
    bin_size = model.bin_size
    if length != model.window:
        raise ModelError(
            f"window of {length:,} bp does not match the model, which takes {model.window:,} bp"
            + (" (use_tf_gamma needs exactly 196,608 bp)" if model.enformer.use_tf_gamma else "")
        )
    if length % bin_size:
        raise ModelError(f"window of {length:,} bp is not a multiple of the model's {bin_size}-bp bins")
    if model.enformer.use_tf_gamma and length != FULL_WINDOW:
        raise ModelError(
            f"window of {length:,} bp: the model uses TensorFlow gamma positions, "
            f"which need exactly {FULL_WINDOW:,} bp"
        )
    target = int(model.enformer.target_length)
    if target != -1 and model.n_tower < target:
        raise ModelError(
            f"window of {length:,} bp gives {model.n_tower} positions after the conv tower, "
            f"fewer than the model's {target} output bins"
        )
    t = model.tss_bin()
    if not 1 <= t < model.n_bins - 1:
        raise ModelError(
            f"window of {length:,} bp: the TSS bin {t} and its neighbours are not all among "
            f"the model's {model.n_bins} output bins"
        )


def check_spec(model: Model, spec: ModelSpec) -> None:
    """Raise ModelError for a track, bin, summary, precision or ensemble the model cannot do."""
    heads = model.enformer.output_heads
    if spec.head not in heads:
        raise ModelError(f"head {spec.head!r} is not in the model (heads: {', '.join(heads)})")
    n_tracks = model.n_tracks(spec.head)
    if not 0 <= spec.track < n_tracks:
        raise ModelError(
            f"track index {spec.track} is out of range: the {spec.head} head has {n_tracks:,} "
            f"tracks (0-{n_tracks - 1})"
        )
    if spec.bins is not None:
        if len(spec.bins) == 0:
            raise ModelError("bins: expected at least one output bin, found none")
        bad = [b for b in spec.bins if not 0 <= b < model.n_bins]
        if bad:
            raise ModelError(
                f"bins {bad} are out of range: the model has {model.n_bins} output bins "
                f"(0-{model.n_bins - 1})"
            )
    if spec.summary not in SUMMARIES:
        raise ModelError(f"summary {spec.summary!r}: expected one of {', '.join(SUMMARIES)}")
    if spec.precision not in PRECISIONS:
        raise ModelError(f"precision {spec.precision!r}: expected one of {', '.join(PRECISIONS)}")
    if not spec.shifts or any(abs(int(s)) > MAX_SHIFT for s in spec.shifts):
        raise ModelError(f"shifts {spec.shifts}: expected one or more shifts of at most +/-{MAX_SHIFT} bp")


def as_tokens(tokens, name: str = "tokens") -> torch.Tensor:
    """uint8 token tensor (numpy or torch in), values 0-4 checked; raises InputError."""
    t = torch.from_numpy(np.ascontiguousarray(tokens)) if isinstance(tokens, np.ndarray) else tokens
    if not isinstance(t, torch.Tensor):
        raise InputError(
            f"{name}: expected a numpy array or torch tensor of uint8 tokens, found {type(tokens).__name__}"
        )
    if t.dtype != torch.uint8:
        raise InputError(f"{name}: expected uint8 tokens 0-4 (A,C,G,T,N), found dtype {t.dtype}")
    if t.numel() and int(t.max()) > 4:
        raise InputError(f"{name}: expected tokens 0-4 (A,C,G,T,N), found {int(t.max())}")
    return t


# --------------------------------------------------------------------------- forward pieces


def one_hot(tokens: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, L) uint8 tokens -> (B, L, 4) one-hot, channels A,C,G,T, N all zero."""
    table = torch.eye(5, 4, dtype=dtype, device=tokens.device)
    return table[tokens.long()]


def transform_tokens(tokens: torch.Tensor, shift: int, rc: bool) -> torch.Tensor:
    """Ensemble member input: shift right by `shift` bp (N fill), then reverse complement."""
    if shift:
        out = torch.full_like(tokens, 4)
        if shift > 0:
            out[:, shift:] = tokens[:, :-shift]
        else:
            out[:, :shift] = tokens[:, -shift:]
        tokens = out
    if rc:
        complement = torch.tensor(COMPLEMENT, dtype=torch.uint8, device=tokens.device)
        tokens = complement[tokens.long()].flip(1)
    return tokens


def transform_one_hot(x: torch.Tensor, shift: int, rc: bool) -> torch.Tensor:
    """`transform_tokens` on a (B, L, 4) one-hot tensor, differentiable."""
    if shift > 0:
        x = F.pad(x[:, :-shift], (0, 0, shift, 0))
    elif shift < 0:
        x = F.pad(x[:, -shift:], (0, 0, 0, -shift))
    if rc:
        x = x.flip(1, 2)  # reversed positions; A,C,G,T -> T,G,C,A is the channel flip
    return x


def member_bins(model: Model, bins: tuple[int, ...], rc: bool) -> torch.Tensor:
    """Tower positions to read for the spec's output bins; mirrored on the reverse strand."""
    start, n_out = model.crop
    out = [n_out - 1 - b if rc else b for b in bins]
    return torch.tensor([start + b for b in out], dtype=torch.long, device=model.device)


def tower(enformer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Stem + conv tower: (B, L, 4) one-hot -> (B, C, L / 128)."""
    return enformer.conv_tower(enformer.stem(x.transpose(1, 2)))


def after_tower(
    enformer: nn.Module, t: torch.Tensor, positions: torch.Tensor, head: str, track: int
) -> torch.Tensor:
    """Transformer, then final pointwise layer and one track of the head at `positions` only.

    (B, C, N) tower output -> (B, len(positions)) track values, equal to
    enformer(x)[head][:, bins, track].
    """
    x = enformer.transformer(t.transpose(1, 2))
    x = enformer.final_pointwise(x[:, positions])
    linear = enformer._heads[head][0]
    value = F.linear(x, linear.weight[track : track + 1], linear.bias[track : track + 1])
    return F.softplus(_at_least_fp32(value.squeeze(-1)))


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def summarise(values: torch.Tensor, summary: str) -> torch.Tensor:
    """(B, bins) track values -> (B,) gene scores."""
    if summary == "sum":
        return values.sum(-1)
    return torch.log(values.clamp_min(torch.finfo(torch.float32).tiny)).sum(-1)


@contextmanager
def strict_fp32(device: str | torch.device):
    """True fp32 on CUDA, whose convolutions otherwise default to TF32 (10-bit mantissa):
    too coarse for differences between haplotypes, for ISM and for patched scores."""
    if torch.device(device).type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@contextmanager
def precision(model: Model, spec: ModelSpec):
    """bf16: autocast; fp32: `strict_fp32`."""
    if spec.precision == "bf16":
        with torch.autocast(model.device.type, dtype=torch.bfloat16):
            yield
        return
    with strict_fp32(model.device):
        yield


def parts(model: Model, spec: ModelSpec) -> tuple[Callable, Callable]:
    """(tower, after_tower) functions, compiled with torch.compile when the spec asks."""
    if not spec.compile:
        return tower, after_tower
    if "parts" not in model._compiled:
        model._compiled["parts"] = (torch.compile(tower, dynamic=False), torch.compile(after_tower))
    return model._compiled["parts"]


def member_values(model: Model, spec: ModelSpec, tokens: torch.Tensor, bins: tuple[int, ...]) -> torch.Tensor:
    """Track values at the bins, averaged over the ensemble: (B, L) tokens on device -> (B, bins).

    Callers hold `precision(model, spec)` and inference mode.
    """
    tower_fn, after_fn = parts(model, spec)
    total = None
    members = spec.members()
    for shift, rc in members:
        x = one_hot(transform_tokens(tokens, shift, rc), model.dtype)
        positions = member_bins(model, bins, rc)
        v = after_fn(model.enformer, tower_fn(model.enformer, x), positions, spec.head, spec.track)
        total = v if total is None else total + v
    return total / len(members)


# --------------------------------------------------------------------------- scoring


def batch_indices(n: int, batch_size: int, pad: bool = False):
    """(row indices, number of real rows) per batch.

    With pad, every batch has batch_size rows (the last repeats its final row), so
    that a torch.compile'd model sees one shape and never recompiles.
    """
    if batch_size < 1:
        raise ModelError(f"batch size {batch_size}: expected at least 1")
    for i in range(0, n, batch_size):
        idx = np.arange(i, min(i + batch_size, n))
        real = idx.size
        if pad and real < batch_size:
            idx = np.concatenate([idx, np.full(batch_size - real, idx[-1])])
        yield idx, real


def score_tokens(model: Model, tokens, spec: ModelSpec | None = None, *, batch_size: int = 8) -> np.ndarray:
    """Gene scores of whole sequences: (B, L) uint8 tokens (numpy or torch) -> (B,) float64."""
    spec = ModelSpec() if spec is None else spec
    bins = model.resolve_bins(spec)
    t = as_tokens(tokens)
    if t.ndim != 2:
        raise InputError(f"tokens: expected shape (batch, {model.window}), found {tuple(t.shape)}")
    check_window(model, int(t.shape[1]))
    out = []
    with torch.inference_mode(), precision(model, spec):
        for idx, real in batch_indices(t.shape[0], batch_size, pad=spec.compile):
            batch = t[torch.from_numpy(idx)].to(model.device, non_blocking=True)
            out.append(summarise(member_values(model, spec, batch, bins), spec.summary)[:real].cpu())
    if not out:
        return np.zeros(0)
    return torch.cat(out).double().numpy()


def one_hot_values(model: Model, spec: ModelSpec, x: torch.Tensor, bins: tuple[int, ...]) -> torch.Tensor:
    """`member_values` for a (B, L, 4) one-hot batch already on the device: (B, bins) track values.

    Callers hold `precision(model, spec)` and inference mode.
    """
    tower_fn, after_fn = parts(model, spec)
    x = x.to(model.dtype)
    total = None
    members = spec.members()
    for shift, rc in members:
        positions = member_bins(model, bins, rc)
        t = tower_fn(model.enformer, transform_one_hot(x, shift, rc))
        v = after_fn(model.enformer, t, positions, spec.head, spec.track)
        total = v if total is None else total + v
    return total / len(members)


def check_snvs(
    model: Model, ref_tokens, positions, name: str = "positions"
) -> tuple[torch.Tensor, np.ndarray]:
    """Reference tokens (L,) and 0-based SNV offsets in the window, checked; raises InputError."""
    ref = as_tokens(ref_tokens, "ref_tokens")
    if ref.ndim != 1:
        raise InputError(f"ref_tokens: expected shape ({model.window},), found {tuple(ref.shape)}")
    check_window(model, int(ref.shape[0]))
    pos = np.asarray(positions)
    if pos.ndim != 1 or (pos.size and not np.issubdtype(pos.dtype, np.integer)):
        raise InputError(
            f"{name}: expected a 1-D integer array of 0-based window offsets, "
            f"found shape {pos.shape} dtype {pos.dtype}"
        )
    pos = pos.astype(np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= model.window):
        bad = pos[(pos < 0) | (pos >= model.window)][0]
        raise InputError(f"{name}: offset {bad} is outside the window 0-{model.window - 1}")
    return ref, pos


def haplotype_bases(ref_tokens, positions, alt_tokens, alleles) -> np.ndarray:
    """Base token each haplotype carries at each SNV: (n_people, 2, n_snvs) uint8.

    alleles: uint8 (n_people, 2, n_snvs), 1 = carries a non-reference base.
    alt_tokens: the base carried, either (n_snvs,) or per haplotype (n_people, 2, n_snvs)
    (multi-allelic records whose haplotypes carry different ALT bases).
    """
    ref = np.asarray(ref_tokens)
    pos = np.asarray(positions, dtype=np.int64)
    a = np.asarray(alleles)
    alt = np.asarray(alt_tokens)
    if a.ndim != 3 or a.shape[1] != 2 or a.shape[2] != pos.size:
        raise InputError(f"alleles: expected shape (n_people, 2, {pos.size}), found {a.shape}")
    if alt.shape not in ((pos.size,), a.shape):
        raise InputError(f"alt_tokens: expected shape ({pos.size},) or {a.shape}, found {alt.shape}")
    if alt.size and (alt.dtype != np.uint8 or alt.max() > 3):
        raise InputError("alt_tokens: expected uint8 tokens 0-3 (A,C,G,T)")
    return np.where(a.astype(bool), alt, ref[pos]).astype(np.uint8)


def score_haplotypes(
    model: Model,
    spec: ModelSpec,
    ref_tokens,
    positions,
    alt_tokens,
    alleles,
    *,
    batch_size: int = 8,
) -> np.ndarray:
    """Scores of every person's two haplotypes: (n_people, 2) float64.

    ref_tokens: (L,) uint8 window; positions: (n_snvs,) 0-based offsets in the window;
    alt_tokens, alleles: as in `haplotype_bases`. Haplotypes identical inside the
    window are scored once. Each batch is built on the device from the reference
    (sent once) and the batch's bases at the SNVs. Person score = row mean.
    """
    bins = model.resolve_bins(spec)
    ref, pos = check_snvs(model, ref_tokens, positions)
    if np.unique(pos).size != pos.size:
        raise InputError("positions: two SNVs share a window offset; merge multi-allelic records first")
    bases = haplotype_bases(ref.numpy(), pos, alt_tokens, alleles)
    n_people = bases.shape[0]
    flat = bases.reshape(n_people * 2, pos.size)
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    scores = np.empty(unique.shape[0])
    ref_dev = ref.to(model.device)
    pos_dev = torch.from_numpy(pos).to(model.device)
    with torch.inference_mode(), precision(model, spec):
        for idx, real in batch_indices(unique.shape[0], batch_size, pad=spec.compile):
            hap = torch.from_numpy(unique[idx]).to(model.device, non_blocking=True)
            tokens = ref_dev.expand(hap.shape[0], -1).clone()
            tokens[:, pos_dev] = hap
            values = member_values(model, spec, tokens, bins)
            scores[idx[:real]] = summarise(values, spec.summary)[:real].double().cpu().numpy()
    return scores[inverse.reshape(-1)].reshape(n_people, 2)
