"""compute/engine/attribution.py: cached ISM against full forward passes, gradient x input against ISM
and finite differences, the receptive field against the conv tower itself."""

import numpy as np
import pytest
import torch

from compute.engine.attribution import (
    affected_range,
    grad_x_input,
    ism,
    max_slice_width,
    required_input,
    snv_slices,
)
from compute.engine.model import ModelSpec, one_hot
from compute.engine.models import small_model
from compute.errors import InputError, ModelError

# Offsets at both window edges, around bin boundaries and the TSS (2048), and inside.
OFFSETS = np.array([0, 1, 6, 7, 8, 127, 128, 500, 1791, 2047, 2048, 2049, 3333, 3968, 4088, 4094, 4095])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return small_model(seed=0, device="cpu")


@pytest.fixture(scope="module")
def case(model):
    rng = np.random.default_rng(11)
    ref = rng.integers(0, 4, model.window).astype(np.uint8)
    ref[3000:3010] = 4
    alt = ((ref[OFFSETS] % 4 + rng.integers(1, 4, OFFSETS.size)) % 4).astype(np.uint8)
    return ref, alt


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the largest |b|."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_affected_range_is_exact(model, case):
    """Changed tower positions lie inside affected_range, and its end positions do change."""
    ref, _ = case
    steps = model.trunk_steps()
    assert [s.kind for s in steps].count("pool") == 7
    with torch.no_grad():
        base = model.trunk(one_hot(torch.from_numpy(ref)[None]))[0]
        for o in OFFSETS:
            mutated = ref.copy()
            mutated[o] = (mutated[o] + 2) % 4
            out = model.trunk(one_hot(torch.from_numpy(mutated)[None]))[0]
            changed = np.flatnonzero((out != base).any(0).numpy())
            first, last = affected_range(steps, int(o), model.window)
            assert (changed.min(), changed.max()) == (first, last), (o, changed, first, last)
    # By hand: +/-7 (stem conv), then per level +/-2 (conv) and halving (pool): 2041-2055 ->
    # 1020-1027 -> 509-514 -> 253-258 -> 125-130 -> 61-66 -> 29-34 -> 13-18.
    assert affected_range(steps, 2048, 4096) == (13, 18)
    assert required_input(steps, 16, 16, 4096)[0] < 2048 < required_input(steps, 16, 16, 4096)[1]


def test_slices_fit_the_window(model):
    first, last, start, width = snv_slices(model, OFFSETS)
    assert width % model.bin_size == 0 and width <= model.window
    assert (
        (start % model.bin_size == 0).all() and (start >= 0).all() and (start + width <= model.window).all()
    )
    assert (start <= OFFSETS).all() and (OFFSETS < start + width).all()
    assert (first * model.bin_size >= start).all() and ((last + 1) * model.bin_size <= start + width).all()


@pytest.mark.parametrize(
    "spec",
    [ModelSpec(), ModelSpec(summary="sum", track=11, bins=(2, 8, 13))],
    ids=["default", "sum"],
)
def test_cached_ism_equals_full_ism_fp32(model, case, spec):
    ref, alt = case
    cached = ism(model, spec, ref, OFFSETS, alt, batch_size=5)
    full = ism(model, spec, ref, OFFSETS, alt, method="full", batch_size=7)
    rel = relative_difference(cached, full)
    diff = np.abs(cached - full).max()
    print(f"fp32 cached vs full ISM: max abs diff {diff:.2e}, max relative diff {rel:.2e}")
    assert rel <= 1e-4
    assert np.abs(full).max() > 1e-2  # the SNVs have effects to compare


def test_cached_ism_equals_full_ism_fp32_ensemble(model, case):
    """With reverse complement and shifts the member average shrinks the effects (max |ISM| ~5e-3)
    while fp32 rounding stays ~5e-7, as large as between two full passes batched differently;
    the bound is then absolute (fp64 exactness below covers the ensemble logic)."""
    ref, alt = case
    spec = ModelSpec(reverse_complement=True, shifts=(-3, 0, 1))
    cached = ism(model, spec, ref, OFFSETS, alt, batch_size=5)
    full = ism(model, spec, ref, OFFSETS, alt, method="full", batch_size=7)
    print(
        f"fp32 ensemble cached vs full ISM: max abs diff {np.abs(cached - full).max():.2e}, "
        f"max relative diff {relative_difference(cached, full):.2e}"
    )
    assert np.abs(cached - full).max() <= 2e-6
    assert np.abs(full).max() > 1e-3


def test_cached_ism_exact_in_fp64(case):
    """In float64 the patched tower reproduces the full forward to rounding: the range logic is exact."""
    model = small_model(seed=2, device="cpu")
    model.net.double()
    ref, alt = case
    spec = ModelSpec(reverse_complement=True, shifts=(0, 2))
    cached = ism(model, spec, ref, OFFSETS, alt)
    full = ism(model, spec, ref, OFFSETS, alt, method="full")
    print(f"fp64 cached vs full ISM: max relative diff {relative_difference(cached, full):.2e}")
    assert relative_difference(cached, full) < 1e-10


def test_ism_is_a_score_difference(model, case):
    """Full ISM = score of the mutated sequence minus score of the reference, by the library's forward."""
    ref, alt = case
    seqs = np.repeat(ref[None], OFFSETS.size + 1, 0)
    seqs[np.arange(1, OFFSETS.size + 1), OFFSETS] = alt
    with torch.no_grad():
        values = model.net(torch.from_numpy(seqs).long())["human"][:, [7, 8, 9], 4980].double().numpy()
    score = np.log(values).sum(1)
    np.testing.assert_allclose(ism(model, ModelSpec(), ref, OFFSETS, alt), score[1:] - score[0], atol=2e-6)
    same = ism(model, ModelSpec(), ref, OFFSETS[:3], ref[OFFSETS[:3]])
    np.testing.assert_allclose(same, 0, atol=1e-6)


def library_score(model, x: torch.Tensor) -> torch.Tensor:
    """sum_log score of a (continuous) one-hot input through enformer-pytorch's own forward."""
    return torch.log(model.net(x)["human"][:, [7, 8, 9], 4980]).sum(1)


def test_grad_x_input_equals_finite_difference(case):
    model = small_model(seed=3, device="cpu")
    model.net.double()
    ref, alt = case
    grads = grad_x_input(model, ModelSpec(), ref, OFFSETS, alt)
    x = one_hot(torch.from_numpy(ref)[None], torch.float64)
    eps = 1e-5
    with torch.no_grad():
        for o, a, g in zip(OFFSETS, alt, grads, strict=True):
            direction = torch.zeros_like(x)
            direction[0, o, a] = 1.0
            if ref[o] < 4:
                direction[0, o, ref[o]] = -1.0
            fd = (library_score(model, x + eps * direction) - library_score(model, x - eps * direction)) / (
                2 * eps
            )
            assert abs(fd.item() - g) <= 1e-6 * max(1.0, abs(g)), (o, fd.item(), g)


def test_grad_x_input_agrees_in_sign_with_ism():
    """A model whose first layer is scaled down works in its near-linear regime, where the
    gradient must predict each SNV's ISM: equal signs, near-equal values."""
    model = small_model(seed=4, device="cpu")
    with torch.no_grad():
        model.net.stem[0].weight.mul_(0.02)
    rng = np.random.default_rng(5)
    ref = rng.integers(0, 4, model.window).astype(np.uint8)
    offsets = np.sort(rng.choice(model.window, 40, replace=False))
    alt = ((ref[offsets] + rng.integers(1, 4, offsets.size)) % 4).astype(np.uint8)
    effects = ism(model, ModelSpec(summary="sum"), ref, offsets, alt)
    grads = grad_x_input(model, ModelSpec(summary="sum"), ref, offsets, alt)
    # the effects here are a few float32 steps of the score apart (about 47 steps the largest):
    # signs are compared where they are several steps, not where one rounding can flip them
    large = np.abs(effects) > 0.1 * np.abs(effects).max()
    assert large.sum() >= 20
    np.testing.assert_array_equal(np.sign(grads[large]), np.sign(effects[large]))
    assert np.corrcoef(grads, effects)[0, 1] > 0.99


def test_attribution_errors(model, case):
    ref, alt = case
    with pytest.raises(ModelError, match="fp32"):
        ism(model, ModelSpec(precision="bf16"), ref, OFFSETS, alt)
    with pytest.raises(ModelError, match="method"):
        ism(model, ModelSpec(), ref, OFFSETS, alt, method="fast")
    with pytest.raises(InputError, match="alt_tokens"):
        ism(model, ModelSpec(), ref, OFFSETS, alt[:-1])
    with pytest.raises(InputError, match="offset 4096"):
        grad_x_input(model, ModelSpec(), ref, np.array([4096]), alt[:1])
    with pytest.raises(ModelError, match="does not match the model"):
        ism(model, ModelSpec(), ref[:2048], OFFSETS[:2], alt[:2])
    with pytest.raises(ModelError, match="track index"):
        grad_x_input(model, ModelSpec(track=9999), ref, OFFSETS, alt)


def test_compile_mode_shapes_give_same_numbers(model, case, monkeypatch):
    """spec.compile pads every batch to batch_size and fixes the slice width (one compiled shape);
    torch.compile itself (minutes on CPU) is replaced by the identity here."""
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)
    model._compiled.clear()
    ref, alt = case
    plain = ism(model, ModelSpec(), ref, OFFSETS, alt, batch_size=5)
    padded = ism(model, ModelSpec(compile=True), ref, OFFSETS, alt, batch_size=5)
    np.testing.assert_allclose(padded, plain, atol=2e-6)
    full = ism(model, ModelSpec(compile=True), ref, OFFSETS[:7], alt[:7], batch_size=5, method="full")
    np.testing.assert_allclose(full, plain[:7], atol=2e-6)
    assert max_slice_width(model) >= snv_slices(model, OFFSETS)[3]
    model._compiled.clear()
