"""The all-track head: the paper's elastic net over every Enformer output track.

`GTExWeights.csv` (Sasse et al. 2023, from their `fine_tuned_model/`) lists the
5,313 human output tracks in output order with one weight each, and a last row
`offset`, the intercept. The paper's 'fine-tuned' gene score combines all
tracks: each track is summarised over the TSS bins exactly as the single-track
score is (DESIGN §4, `sum_log` or `sum`), and the score is

    offset + sum_t weight_t * summary_t.

Only tracks with a non-zero weight (697 of 5,313 in the published file) are
taken through the head, and the single track rides along in the same pass, so
one forward of the model gives both gene scores.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from compute.cohort.haplotypes import unique_rows
from compute.engine.model import (
    Model,
    ModelSpec,
    as_tokens,
    batch_indices,
    check_snvs,
    check_window,
    haplotype_bases,
    member_bins,
    one_hot,
    parts,
    precision,
    summarise,
    transform_tokens,
)
from compute.errors import InputError, ModelError

HEADER = ["tracks", "weights"]
OFFSET_ROW = "offset"
HEAD_NAME = "gtex-elastic-net"


@dataclass(frozen=True)
class TrackWeights:
    """One weight per output track (in output order) and an intercept."""

    names: tuple[str, ...]
    weights: np.ndarray  # (n_tracks,) float64
    offset: float
    source: str

    @property
    def n_tracks(self) -> int:
        return len(self.names)

    @property
    def used(self) -> np.ndarray:
        """Indices of the tracks with a non-zero weight (the only ones the score needs)."""
        return np.flatnonzero(self.weights)

    def track_index(self, name: str) -> int:
        """Output index of a track by its name as the file writes it (commas as ';')."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"{self.source}: no track named {name!r}") from None


def load_track_weights(path: str | Path) -> TrackWeights:
    """Read a `tracks,weights` CSV whose last row is `offset`; InputError names the bad line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: track weights file not found (expected GTExWeights.csv)")
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file ({err.reason})") from None
    if not rows or rows[0] != HEADER:
        found = rows[0] if rows else "an empty file"
        raise InputError(f"{path}, line 1: expected the header {','.join(HEADER)}, found {found}")
    names, weights, offset = [], [], None
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if offset is not None:
            raise InputError(f"{path}, line {number}: expected nothing after the '{OFFSET_ROW}' row")
        if len(row) != 2:
            raise InputError(f"{path}, line {number}: expected 2 fields (track, weight), found {len(row)}")
        name, text = row
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InputError(f"{path}, line {number}: expected a finite weight for {name!r}, found {text!r}")
        if name == OFFSET_ROW:
            offset = value
        else:
            names.append(name)
            weights.append(value)
    if offset is None:
        raise InputError(f"{path}: expected a last row '{OFFSET_ROW},<intercept>', found none")
    if not names:
        raise InputError(f"{path}: no track rows before '{OFFSET_ROW}'")
    return TrackWeights(tuple(names), np.asarray(weights, dtype=np.float64), float(offset), str(path))


def check_track_count(model: Model, weights: TrackWeights, head: str = "human") -> None:
    """ModelError unless the weights have one row per output track of the model's head."""
    n_tracks = model.n_tracks(head)
    if weights.n_tracks != n_tracks:
        raise ModelError(
            f"{weights.source}: {weights.n_tracks:,} track weights, but the model's {head} head has "
            f"{n_tracks:,} tracks; the weights must list every output track in order"
        )


def weighted_score(
    summaries: np.ndarray, weights: TrackWeights, tracks: np.ndarray | None = None
) -> np.ndarray:
    """offset + summaries @ weights: (B, n) per-track summaries of `tracks` (default all) -> (B,)."""
    w = weights.weights if tracks is None else weights.weights[tracks]
    return np.asarray(summaries, dtype=np.float64) @ w + weights.offset


def all_track_score(values: np.ndarray, weights: TrackWeights, summary: str) -> np.ndarray:
    """Gene scores from all tracks' values at the bins: (B, bins, n_tracks) -> (B,).

    Each track is summarised over the bins like the single-track score, then weighted.
    """
    v = torch.as_tensor(np.asarray(values, dtype=np.float64)).transpose(1, 2)  # (B, tracks, bins)
    return weighted_score(summarise(v, summary).numpy(), weights)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class HeadScores:
    """Gene scores of one pass: the spec's single track and the all-track elastic net."""

    single: np.ndarray
    all_tracks: np.ndarray


def _head_values(
    model: Model, spec: ModelSpec, tokens: torch.Tensor, bins: tuple[int, ...], tracks: torch.Tensor
) -> torch.Tensor:
    """Values of `tracks` at the bins, averaged over the ensemble: (B, L) -> (B, bins, len(tracks))."""
    tower_fn, _ = parts(model, spec)
    linear = model.head_linear(spec.head)
    weight, bias = linear.weight[tracks], linear.bias[tracks]
    total = None
    members = spec.members()
    for shift, rc in members:
        x = one_hot(transform_tokens(tokens, shift, rc), model.dtype)
        h = model.embed(tower_fn(x), member_bins(model, bins, rc))
        v = F.linear(h, weight, bias)
        v = F.softplus(v.to(torch.promote_types(v.dtype, torch.float32)))  # bf16 -> fp32 before softplus
        total = v if total is None else total + v
    return total / len(members)


def _split(values: torch.Tensor, spec: ModelSpec, weights: TrackWeights, used: np.ndarray):
    """(B, bins, 1 + used) values -> (single-track scores, all-track scores) as float64 numpy."""
    single = summarise(values[..., 0], spec.summary).double().cpu().numpy()
    per_track = summarise(values[..., 1:].transpose(1, 2), spec.summary).double().cpu().numpy()
    return single, weighted_score(per_track, weights, used)


def _tracks(model: Model, spec: ModelSpec, weights: TrackWeights) -> tuple[np.ndarray, torch.Tensor]:
    check_track_count(model, weights, spec.head)
    used = weights.used
    index = torch.from_numpy(np.concatenate([[spec.track], used])).to(model.device)
    return used, index


def score_tokens_heads(
    model: Model, spec: ModelSpec, weights: TrackWeights, tokens, *, batch_size: int = 8
) -> HeadScores:
    """Single-track and all-track scores of whole sequences: (B, L) uint8 tokens -> two (B,) arrays."""
    bins = model.resolve_bins(spec)
    used, index = _tracks(model, spec, weights)
    t = as_tokens(tokens)
    if t.ndim != 2:
        raise InputError(f"tokens: expected shape (batch, {model.window}), found {tuple(t.shape)}")
    check_window(model, int(t.shape[1]))
    single, combined = [], []
    with torch.inference_mode(), precision(model, spec):
        for idx, real in batch_indices(t.shape[0], batch_size, pad=spec.compile):
            batch = t[torch.from_numpy(idx)].to(model.device)
            s, a = _split(_head_values(model, spec, batch, bins, index)[:real], spec, weights, used)
            single.append(s)
            combined.append(a)
    if not single:
        return HeadScores(np.zeros(0), np.zeros(0))
    return HeadScores(np.concatenate(single), np.concatenate(combined))


def score_haplotypes_heads(
    model: Model,
    spec: ModelSpec,
    weights: TrackWeights,
    ref_tokens,
    positions,
    alt_tokens,
    alleles,
    *,
    batch_size: int = 8,
) -> HeadScores:
    """Both heads' scores of every person's two haplotypes: two (n_people, 2) float64 arrays.

    Arguments as `compute.engine.model.score_haplotypes`; haplotypes identical inside the
    window are scored once, each batch built on the device from the reference.
    """
    bins = model.resolve_bins(spec)
    used, index = _tracks(model, spec, weights)
    ref, pos = check_snvs(model, ref_tokens, positions)
    if np.unique(pos).size != pos.size:
        raise InputError("positions: two SNVs share a window offset; merge multi-allelic records first")
    bases = haplotype_bases(ref.numpy(), pos, alt_tokens, alleles)
    n_people = bases.shape[0]
    unique, inverse = unique_rows(bases.reshape(n_people * 2, pos.size))
    single, combined = np.empty(unique.shape[0]), np.empty(unique.shape[0])
    ref_dev = ref.to(model.device)
    pos_dev = torch.from_numpy(pos).to(model.device)
    with torch.inference_mode(), precision(model, spec):
        for idx, real in batch_indices(unique.shape[0], batch_size, pad=spec.compile):
            hap = torch.from_numpy(unique[idx]).to(model.device)
            tokens = ref_dev.expand(hap.shape[0], -1).clone()
            tokens[:, pos_dev] = hap
            s, a = _split(_head_values(model, spec, tokens, bins, index)[:real], spec, weights, used)
            single[idx[:real]], combined[idx[:real]] = s, a
    shape = (n_people, 2)
    inverse = inverse.reshape(-1)
    return HeadScores(single[inverse].reshape(shape), combined[inverse].reshape(shape))
