"""The model interface (`Model`: what the runs need of a sequence model) and scoring on it.

`Model` is what every architecture provides: its window and output bins, its tracks, the trunk
(the position-local part that ISM caches: for Enformer the stem and conv tower), the rest up to
the per-bin embeddings the heads read, the heads, saving, and the changes fine-tuning makes.
compute/engine/enformer.py is the first implementation; nothing outside it reaches into the
library's modules. compute/engine/models.py loads one.

A gene score is one track of the model's output, summarised over a few output
bins around the TSS (DESIGN §4). Sequences arrive as `np.uint8` tokens
(0-4 = A,C,G,T,N, docs/architecture.md) and become one-hot on the device, one
batch at a time. Personal haplotypes are built on the device from the reference
tokens and the bases each haplotype carries at the SNVs, and every distinct
haplotype is scored once.

The forward pass is split into the trunk (what `compute.engine.attribution` caches for ISM)
and the rest (for Enformer: transformer, crop, final pointwise layer, head). Only the requested
bins and track are taken through the last layers and the head, which gives the same numbers as
the full 5,313-track output at a fraction of its cost.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compute.cohort.haplotypes import unique_rows
from compute.engine.catalog import ENFORMER
from compute.errors import InputError, ModelError

SUMMARIES = ("sum_log", "sum", "log1p_sum")
PRECISIONS = ("fp32", "bf16")
MAX_SHIFT = 3
# Complement of tokens 0-4 (A,C,G,T,N -> T,G,C,A,N).
COMPLEMENT = (3, 2, 1, 0, 4)


@dataclass(frozen=True)
class ModelSpec:
    """What a gene score is: which track, which bins, which summary, and how it is computed.

    bins: output-bin indices of the model; None means the bin holding the TSS
    (window index L // 2) and its two neighbours (447, 448, 449 for the full model).
    summary: "sum_log" sums log(value) over the bins (the paper's text), "sum" sums
    the values (the authors' ISM code), "log1p_sum" is log1p of the sum (Borzoi's gene count).
    Values are the model's `to_counts` of the ensemble-averaged track (Enformer: the track itself).
    reverse_complement / shifts: test-time ensemble; the track values of every
    member (each shift, forward and, if asked, reverse complement) are averaged
    bin by bin before the summary.
    """

    track: int = ENFORMER.default_track
    bins: tuple[int, ...] | None = None
    summary: str = "sum_log"
    precision: str = "fp32"
    compile: bool = False
    compile_backend: str = "inductor"  # torch.compile's backend; "aot_eager" traces without generating code
    reverse_complement: bool = False
    shifts: tuple[int, ...] = (0,)
    head: str = "human"

    def members(self) -> list[tuple[int, bool]]:
        """Ensemble members as (shift in bp, reverse complement)."""
        strands = (False, True) if self.reverse_complement else (False,)
        return list(itertools.product(self.shifts, strands))


@dataclass(frozen=True)
class Step:
    """One layer of a trunk as it moves positions: a same-padded conv of `radius`, or a pool."""

    kind: str  # "conv" | "pool"
    size: int  # conv: radius (kernel // 2); pool: pool size


@dataclass
class Model(ABC):
    """A loaded sequence model in eval mode on its device, with the window length it takes.

    net: the library's own module (the plain model, e.g. for an independent check in tests)."""

    net: nn.Module
    device: torch.device
    window: int
    source: str
    _compiled: dict = field(default_factory=dict, repr=False)

    name: ClassVar[str] = "model"
    # Whether the network takes any window its checks allow (AlphaGenome: multiples of 2,048 bp), so
    # that a run's --window rebuilds it with `with_window` rather than being refused.
    flexible_window: ClassVar[bool] = False

    # -- what an architecture provides

    @property
    @abstractmethod
    def bin_size(self) -> int:
        """bp per trunk position (and per output bin)."""

    @property
    @abstractmethod
    def heads(self) -> dict[str, int]:
        """Output heads: name -> number of tracks."""

    @property
    @abstractmethod
    def crop(self) -> tuple[int, int]:
        """(first trunk position kept, number of output bins)."""

    @abstractmethod
    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, 4) one-hot -> (B, C, L / bin_size): the position-local part (ISM caches it)."""

    @abstractmethod
    def trunk_steps(self) -> list[Step]:
        """The trunk as conv/pool steps, for the positions an SNV can change (ISM patching)."""

    @abstractmethod
    def embed(self, t: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, C, N) trunk output -> (B, len(positions), D): what the heads read at the positions."""

    @abstractmethod
    def head_linear(self, head: str) -> nn.Linear:
        """The head's linear layer (its tracks are rows; a softplus follows it)."""

    @abstractmethod
    def window_problem(self, length: int) -> str | None:
        """Why the architecture cannot take `length` bp beyond the generic checks, or None."""

    @abstractmethod
    def save(self, out_dir: Path) -> Path:
        """Save so that `compute.engine.models.load_model(out_dir)` rebuilds it offline."""

    @abstractmethod
    def with_window(self, window: int) -> Model:
        """The same network taking `window` bp (fine-tuning on shorter windows)."""

    @abstractmethod
    def add_head(self, name: str, track: int) -> None:
        """A new one-track head started from `track` of the human head (fine-tuning)."""

    # -- what an architecture may change

    def member_track(self, head: str, track: int, rc: bool) -> int:
        """The track an ensemble member reads: the same one, except where a reverse-complemented input
        reads the other strand's track (Borzoi's stranded RNA-seq)."""
        return track

    def to_counts(self, values: torch.Tensor, head: str, track: int) -> torch.Tensor:
        """Ensemble-averaged track values (B, bins) -> the values the summary adds up: the model's own
        output for Enformer, the experimental scale where the model predicts a squashed one."""
        return values

    # -- what follows from it

    def head_values(self, t: torch.Tensor, positions: torch.Tensor, head: str, track: int) -> torch.Tensor:
        """(B, C, N) trunk output -> (B, len(positions)) values of one track, equal to the full
        model's output at those bins."""
        linear = self.head_linear(head)
        value = F.linear(
            self.embed(t, positions), linear.weight[track : track + 1], linear.bias[track : track + 1]
        )
        return F.softplus(_at_least_fp32(value.squeeze(-1)))

    def head_parameters(self, head: str):
        """The parameters of one head (what a frozen-trunk fine-tuning trains)."""
        return self.head_linear(head).parameters()

    def train_mode(self, on: bool) -> None:
        """Dropout on or off; batch norm always on its running statistics."""
        self.net.train(on)
        for module in self.net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    @property
    def dtype(self) -> torch.dtype:
        """Parameter dtype (float32; float64 in exactness tests)."""
        return next(self.net.parameters()).dtype

    @property
    def n_tower(self) -> int:
        """Trunk positions (1,536 for the full Enformer)."""
        return self.window // self.bin_size

    @property
    def n_bins(self) -> int:
        return self.crop[1]

    def n_tracks(self, head: str = "human") -> int:
        return int(self.heads[head])

    def tss_bin(self) -> int:
        """Output bin holding window index L // 2 (448 for the full model)."""
        return (self.window // 2) // self.bin_size - self.crop[0]

    def exon_bins(self, exons: np.ndarray) -> tuple[int, ...]:
        """Output bins that overlap any of the exons, given as 0-based half-open window offsets (k, 2):
        any overlap counts, as borzoi-pytorch's Gene.output_slice does by default."""
        start, n_out = self.crop
        first = start * self.bin_size  # window offset of output bin 0
        bins: set[int] = set()
        for lo, hi in np.asarray(exons, dtype=np.int64).reshape(-1, 2):
            a = max((int(lo) - first) // self.bin_size, 0)
            b = min(-(-(int(hi) - first) // self.bin_size), n_out)
            bins.update(range(a, b))
        return tuple(sorted(bins))

    def resolve_bins(self, spec: ModelSpec) -> tuple[int, ...]:
        """The spec's output bins, checked against the model; raises ModelError."""
        check_spec(self, spec)
        if spec.bins is not None:
            return tuple(int(b) for b in spec.bins)
        t = self.tss_bin()
        return (t - 1, t, t + 1)


# --------------------------------------------------------------------------- loading


def randomize_weights(net: nn.Module) -> nn.Module:
    """A random model that sees its input: batch-norm statistics drawn around their identity, and
    unit-variance-preserving convolution and linear weights (with the libraries' initialisations
    a random Enformer or Borzoi is almost blind to its input: an ISM of 0 in fp32). Draws from
    torch's global generator: the caller seeds it."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
            if isinstance(module, (nn.Conv1d, nn.Linear)):
                module.weight.normal_(0.0, module.weight[0].numel() ** -0.5)
    return net


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


def ready(model: Model) -> Model:
    """A freshly built model on its device, in eval mode, frozen, its window checked."""
    model.net = model.net.to(model.device).eval()
    for p in model.net.parameters():
        p.requires_grad_(False)
    check_window(model, model.window)
    return model


# --------------------------------------------------------------------------- checks


def check_window(model: Model, length: int) -> None:
    """Raise ModelError unless `length` bp fits the model and its output bins cover the TSS."""
    bin_size = model.bin_size
    problem = model.window_problem(length)
    if length != model.window:
        raise ModelError(
            f"window of {length:,} bp does not match the model, which takes {model.window:,} bp"
            + (f" ({problem})" if problem else "")
        )
    if length % bin_size:
        raise ModelError(f"window of {length:,} bp is not a multiple of the model's {bin_size}-bp bins")
    if problem:
        raise ModelError(f"window of {length:,} bp: {problem}")
    if model.n_bins > model.n_tower:
        raise ModelError(
            f"window of {length:,} bp gives {model.n_tower} positions after the trunk, "
            f"fewer than the model's {model.n_bins} output bins"
        )
    t = model.tss_bin()
    if not 1 <= t < model.n_bins - 1:
        raise ModelError(
            f"window of {length:,} bp: the TSS bin {t} and its neighbours are not all among "
            f"the model's {model.n_bins} output bins"
        )


def check_spec(model: Model, spec: ModelSpec) -> None:
    """Raise ModelError for a track, bin, summary, precision or ensemble the model cannot do."""
    heads = model.heads
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


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def summarise(values: torch.Tensor, summary: str) -> torch.Tensor:
    """(B, bins) track values -> (B,) gene scores."""
    if summary == "sum":
        return values.sum(-1)
    if summary == "log1p_sum":
        return torch.log1p(values.sum(-1))
    return torch.log(values.clamp_min(torch.finfo(torch.float32).tiny)).sum(-1)


def score_values(model: Model, spec: ModelSpec, values: torch.Tensor) -> torch.Tensor:
    """(B, bins) ensemble-averaged track values -> (B,) gene scores: the model's `to_counts`, then the
    spec's summary."""
    return summarise(model.to_counts(values, spec.head, spec.track), spec.summary)


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
    """(trunk, head_values) of the model, compiled with torch.compile when the spec asks."""
    if not spec.compile:
        return model.trunk, model.head_values
    key = ("parts", spec.compile_backend)
    if key not in model._compiled:
        model._compiled[key] = (
            torch.compile(model.trunk, dynamic=False, backend=spec.compile_backend),
            torch.compile(model.head_values, backend=spec.compile_backend),
        )
    return model._compiled[key]


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
        v = after_fn(tower_fn(x), positions, spec.head, model.member_track(spec.head, spec.track, rc))
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
            out.append(score_values(model, spec, member_values(model, spec, batch, bins))[:real].cpu())
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
        t = tower_fn(transform_one_hot(x, shift, rc))
        v = after_fn(t, positions, spec.head, model.member_track(spec.head, spec.track, rc))
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
    unique, inverse = unique_rows(flat)
    scores = np.empty(unique.shape[0])
    ref_dev = ref.to(model.device)
    pos_dev = torch.from_numpy(pos).to(model.device)
    with torch.inference_mode(), precision(model, spec):
        for idx, real in batch_indices(unique.shape[0], batch_size, pad=spec.compile):
            hap = torch.from_numpy(unique[idx]).to(model.device, non_blocking=True)
            tokens = ref_dev.expand(hap.shape[0], -1).clone()
            tokens[:, pos_dev] = hap
            values = member_values(model, spec, tokens, bins)
            scores[idx[:real]] = score_values(model, spec, values)[:real].double().cpu().numpy()
    return scores[inverse.reshape(-1)].reshape(n_people, 2)
