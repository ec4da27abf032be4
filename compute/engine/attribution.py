"""Per-SNV attributions on the reference window: ISM and gradient x input (DESIGN §4, §5).

ISM of an SNV = score(reference with the SNV's ALT) - score(reference), same track,
bins, summary and ensemble as the person scores.

The cached method runs the stem and conv tower once on the reference. One base
change at offset o alters only a few positions of the tower output (its
receptive field, worked out below from the layers of the model), so each SNV
recomputes the tower on a short slice of the sequence around o, patches those
positions into the cached reference output, and runs only the transformer and
head. It reproduces the full forward pass (tests/test_attribution.py).
"""

from __future__ import annotations

import numpy as np
import torch

from compute.engine.model import (
    COMPLEMENT,
    Model,
    ModelSpec,
    Step,
    batch_indices,
    check_snvs,
    member_bins,
    member_values,
    one_hot,
    parts,
    precision,
    score_values,
    transform_one_hot,
    transform_tokens,
)
from compute.errors import InputError, ModelError

# --------------------------------------------------------------------------- receptive field


def affected_range(steps: list[Step], offset: int, length: int) -> tuple[int, int]:
    """Tower-output positions [first, last] that a change at input `offset` can alter."""
    a = b = offset
    n = length
    for step in steps:
        if step.kind == "conv":
            a, b = max(a - step.size, 0), min(b + step.size, n - 1)
        else:
            a, b, n = a // step.size, b // step.size, n // step.size
    return a, b


def required_input(steps: list[Step], first: int, last: int, length: int) -> tuple[int, int]:
    """Input positions [start, end] that tower-output positions [first, last] depend on."""
    sizes = []
    n = length
    for step in steps:
        sizes.append(n)
        if step.kind == "pool":
            n //= step.size
    a, b = first, last
    for step, n in zip(reversed(steps), reversed(sizes), strict=True):
        if step.kind == "conv":
            a, b = max(a - step.size, 0), min(b + step.size, n - 1)
        else:
            a, b = a * step.size, b * step.size + step.size - 1
    return a, b


def max_slice_width(model: Model) -> int:
    """The widest slice any single SNV needs (one position of every alignment to the bins)."""
    middle = model.window // 2
    return snv_slices(model, np.arange(middle, middle + model.bin_size))[3]


def snv_slices(
    model: Model, offsets: np.ndarray, min_width: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """For each SNV: affected tower positions [first, last], slice start; and the common slice width.

    Slices start on a multiple of the bin size (so every pooling pairs the same
    positions as in the full sequence), all have the same width (one batch), and
    are moved inwards at the window edges.
    """
    steps = model.trunk_steps()
    L, bin_size = model.window, model.bin_size
    first = np.empty(len(offsets), dtype=np.int64)
    last = np.empty_like(first)
    start = np.empty_like(first)
    end = np.empty_like(first)
    for i, o in enumerate(offsets):
        first[i], last[i] = affected_range(steps, int(o), L)
        s, e = required_input(steps, int(first[i]), int(last[i]), L)
        start[i] = (s // bin_size) * bin_size
        end[i] = -(-(e + 1) // bin_size) * bin_size
    width = max(int((end - start).max()) if len(offsets) else bin_size, min_width)
    start = np.minimum(start, L - width)
    return first, last, start, width


# --------------------------------------------------------------------------- ISM


def _check(model: Model, spec: ModelSpec, ref_tokens, offsets, alt_tokens):
    bins = model.resolve_bins(spec)
    if spec.precision != "fp32":
        raise ModelError(f"attributions need fp32 (a difference of two close scores), not {spec.precision}")
    ref, pos = check_snvs(model, ref_tokens, offsets, name="offsets")
    alt = np.asarray(alt_tokens)
    if alt.shape != pos.shape:
        raise InputError(f"alt_tokens: expected shape {pos.shape} (one ALT per SNV), found {alt.shape}")
    if alt.size and (alt.dtype != np.uint8 or alt.max() > 3):
        raise InputError("alt_tokens: expected uint8 tokens 0-3 (A,C,G,T)")
    return bins, ref, pos, alt


def _member_snvs(ref: torch.Tensor, pos: np.ndarray, alt: np.ndarray, shift: int, rc: bool, length: int):
    """SNV offsets and ALT tokens in an ensemble member's coordinates.

    An SNV shifted off the window is replaced by a no-op (its offset clipped, the
    member's own reference base), so that member contributes the reference value.
    """
    o = pos + shift
    inside = (o >= 0) & (o < length)
    o = np.clip(o, 0, length - 1)
    a = alt.copy()
    if rc:
        o = length - 1 - o
        a = np.asarray(COMPLEMENT, dtype=np.uint8)[a]
    member_ref = ref.cpu().numpy()
    a = np.where(inside, a, member_ref[o]).astype(np.uint8)
    return o, a


def ism(
    model: Model,
    spec: ModelSpec,
    ref_tokens,
    offsets,
    alt_tokens,
    *,
    batch_size: int = 16,
    method: str = "cached",
) -> np.ndarray:
    """ISM per SNV: score(reference with ALT at offset) - score(reference); (n,) float64.

    ref_tokens: (L,) uint8 window; offsets: (n,) 0-based window offsets; alt_tokens:
    (n,) uint8 ALT tokens 0-3. method "cached" patches a cached reference conv-tower
    output, "full" runs the whole model on every mutated sequence.
    """
    bins, ref, pos, alt = _check(model, spec, ref_tokens, offsets, alt_tokens)
    if method not in ("cached", "full"):
        raise ModelError(f"ISM method {method!r}: expected cached or full")
    if pos.size == 0:
        return np.zeros(0)
    with torch.inference_mode(), precision(model, spec):
        if method == "full":
            ref_values, alt_values = _ism_full(model, spec, ref, pos, alt, bins, batch_size)
        else:
            ref_values, alt_values = _ism_cached(model, spec, ref, pos, alt, bins, batch_size)
        ref_score = score_values(model, spec, ref_values).double()
        alt_score = score_values(model, spec, alt_values).double()
    return (alt_score - ref_score).cpu().numpy()


def _ism_full(model, spec, ref, pos, alt, bins, batch_size):
    ref_dev = ref.to(model.device)
    ref_values = member_values(model, spec, ref_dev[None], bins)
    out = []
    for idx, real in batch_indices(pos.size, batch_size, pad=spec.compile):
        o = torch.from_numpy(pos[idx]).to(model.device)
        a = torch.from_numpy(alt[idx]).to(model.device)
        tokens = ref_dev.expand(o.numel(), -1).clone()
        tokens[torch.arange(o.numel(), device=model.device), o] = a
        out.append(member_values(model, spec, tokens, bins)[:real])
    return ref_values, torch.cat(out)


def _ism_cached(model, spec, ref, pos, alt, bins, batch_size):
    tower_fn, after_fn = parts(model, spec)
    dev, L = model.device, model.window
    ref_total = 0.0
    alt_total = torch.zeros(
        pos.size, len(bins), device=dev, dtype=torch.promote_types(model.dtype, torch.float32)
    )
    members = spec.members()
    for shift, rc in members:
        member_ref = transform_tokens(ref.to(dev)[None], shift, rc)[0]
        positions = member_bins(model, bins, rc)
        track = model.member_track(spec.head, spec.track, rc)
        cache = tower_fn(one_hot(member_ref[None], model.dtype))  # (1, C, N)
        ref_total = ref_total + after_fn(cache, positions, spec.head, track)
        o_all, a_all = _member_snvs(member_ref, pos, alt, shift, rc, L)
        # A compiled tower sees one slice width for every gene.
        fixed = max_slice_width(model) if spec.compile else 0
        first, last, start, width = snv_slices(model, o_all, min_width=fixed)
        for sl, real in batch_indices(pos.size, batch_size, pad=spec.compile):
            n = sl.size
            rows = torch.arange(n, device=dev)
            s = torch.from_numpy(start[sl]).to(dev)
            # Sequence slices with the ALT base, run through stem + tower.
            idx = s[:, None] + torch.arange(width, device=dev)
            tokens = member_ref[idx]
            tokens[rows, torch.from_numpy(o_all[sl]).to(dev) - s] = torch.from_numpy(a_all[sl]).to(dev)
            local = tower_fn(one_hot(tokens, model.dtype))  # (n, C, width / bin)
            # Patch the affected positions into copies of the cached reference output.
            f = torch.from_numpy(first[sl]).to(dev)
            la = torch.from_numpy(last[sl]).to(dev)
            span = int((last[sl] - first[sl]).max()) + 1
            target = torch.minimum(f[:, None] + torch.arange(span, device=dev), la[:, None])
            source = target - (s // model.bin_size)[:, None]
            channels = cache.shape[1]
            values = local.gather(2, source[:, None, :].expand(n, channels, span))
            patched = cache.expand(n, -1, -1).clone()
            patched.scatter_(2, target[:, None, :].expand(n, channels, span), values)
            alt_total[sl[:real]] += after_fn(patched, positions, spec.head, track)[:real]
    return ref_total / len(members), alt_total / len(members)


# --------------------------------------------------------------------------- gradient x input


def grad_x_input(model: Model, spec: ModelSpec, ref_tokens, offsets, alt_tokens) -> np.ndarray:
    """Gradient x input per SNV: d score / d one-hot at the SNV, ALT channel minus REF channel.

    One backward pass of the reference score gives every SNV: (n,) float64. A REF
    base N has no channel, so its term is zero.
    """
    bins, ref, pos, alt = _check(model, spec, ref_tokens, offsets, alt_tokens)
    x = one_hot(ref.to(model.device)[None], model.dtype).requires_grad_(True)
    with torch.enable_grad(), precision(model, spec):
        total = 0.0
        for shift, rc in spec.members():
            t = model.trunk(transform_one_hot(x, shift, rc))
            track = model.member_track(spec.head, spec.track, rc)
            total = total + model.head_values(t, member_bins(model, bins, rc), spec.head, track)
        score = score_values(model, spec, total / len(spec.members())).sum()
        (grad,) = torch.autograd.grad(score, x)
    g = torch.cat([grad[0], torch.zeros(grad.shape[1], 1, device=grad.device)], dim=1).double().cpu().numpy()
    ref_np = ref.numpy().astype(np.int64)
    return g[pos, alt.astype(np.int64)] - g[pos, ref_np[pos]]
