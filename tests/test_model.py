"""compute/engine/model.py: loading, checks, gene scores against enformer-pytorch's own forward pass."""

import json

import numpy as np
import pytest
import torch

from compute.engine.model import ModelSpec, batch_indices, haplotype_bases, score_haplotypes, score_tokens
from compute.engine.models import load_model, save_weights, small_model
from compute.errors import InputError, ModelError

COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return small_model(seed=0, device="cpu")


@pytest.fixture(scope="module")
def tokens(model):
    rng = np.random.default_rng(7)
    t = rng.integers(0, 4, size=(5, model.window)).astype(np.uint8)
    t[1, 100:140] = 4  # a run of N
    return t


def library_values(model, tokens: np.ndarray, bins, track=4980) -> np.ndarray:
    """Track values at bins from enformer-pytorch's own forward (token-index input, all heads)."""
    with torch.no_grad():
        out = model.net(torch.from_numpy(tokens).long())["human"]
    return out[:, list(bins), track].double().numpy()


def test_small_model_layout(model):
    assert model.window == 4096 and model.bin_size == 128
    assert model.n_bins == 16 and model.tss_bin() == 8
    assert model.resolve_bins(ModelSpec()) == (7, 8, 9)
    assert model.n_tracks() == 5313
    assert not model.net.training


def test_scores_equal_library_forward(model, tokens):
    values = library_values(model, tokens, (7, 8, 9))
    np.testing.assert_allclose(score_tokens(model, tokens), np.log(values).sum(1), rtol=1e-5, atol=1e-6)
    spec = ModelSpec(summary="sum", track=17, bins=(3, 8))
    np.testing.assert_allclose(
        score_tokens(model, tokens, spec, batch_size=2),
        library_values(model, tokens, (3, 8), track=17).sum(1),
        rtol=1e-5,
        atol=1e-6,
    )
    # Scores differ between sequences: the small model sees its input.
    assert np.ptp(score_tokens(model, tokens)) > 1e-3


def test_torch_input_and_determinism(model, tokens):
    a = score_tokens(model, tokens)
    b = score_tokens(model, torch.from_numpy(tokens), batch_size=3)
    np.testing.assert_array_equal(a, b)
    again = small_model(seed=0, device="cpu")
    np.testing.assert_array_equal(score_tokens(again, tokens), a)
    other = small_model(seed=1, device="cpu")
    assert not np.allclose(score_tokens(other, tokens), a)


def test_reverse_complement_and_shift_ensemble(model, tokens):
    bins = (7, 8, 9)
    rc = COMPLEMENT[tokens][:, ::-1].copy()
    mirrored = tuple(model.n_bins - 1 - b for b in bins)
    expected = (library_values(model, tokens, bins) + library_values(model, rc, mirrored)) / 2
    spec = ModelSpec(reverse_complement=True)
    np.testing.assert_allclose(
        score_tokens(model, tokens, spec), np.log(expected).sum(1), rtol=1e-5, atol=1e-6
    )

    right = np.full_like(tokens, 4)
    right[:, 2:] = tokens[:, :-2]
    left = np.full_like(tokens, 4)
    left[:, :-3] = tokens[:, 3:]
    expected = sum(library_values(model, t, bins) for t in (left, tokens, right)) / 3
    spec = ModelSpec(shifts=(-3, 0, 2))
    np.testing.assert_allclose(
        score_tokens(model, tokens, spec), np.log(expected).sum(1), rtol=1e-5, atol=1e-6
    )


def test_bf16_close_to_fp32(model, tokens):
    fp32 = score_tokens(model, tokens)
    bf16 = score_tokens(model, tokens, ModelSpec(precision="bf16"))
    diff = np.abs(bf16 - fp32).max()
    print(f"bf16 vs fp32 max abs difference: {diff:.2e} (scores {fp32.min():.3f}..{fp32.max():.3f})")
    assert 0 < diff < 0.05


def test_unique_haplotypes_equal_every_haplotype(model):
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 4, model.window).astype(np.uint8)
    positions = np.array([0, 50, 2047, 2048, 3000, 4095])
    alt = ((ref[positions] + 1) % 4).astype(np.uint8)
    n_people = 7
    alleles = rng.integers(0, 2, size=(n_people, 2, positions.size)).astype(np.uint8)
    alleles[0] = alleles[1]  # two identical people
    alleles[2, :] = 0  # a reference homozygote
    scores = score_haplotypes(model, ModelSpec(), ref, positions, alt, alleles, batch_size=3)

    every = np.repeat(ref[None], n_people * 2, 0)
    flat = alleles.reshape(-1, positions.size)
    for h in range(every.shape[0]):
        every[h, positions] = np.where(flat[h] == 1, alt, ref[positions])
    np.testing.assert_allclose(scores.reshape(-1), score_tokens(model, every), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scores[0], scores[1])
    np.testing.assert_allclose(scores[2], score_tokens(model, ref[None])[0], rtol=1e-5, atol=1e-6)


def test_haplotype_bases_per_haplotype_alt():
    ref = np.array([0, 1, 2, 3, 0], dtype=np.uint8)
    alleles = np.array([[[1, 0], [0, 1]]], dtype=np.uint8)
    per_hap = np.array([[[2, 0], [1, 3]]], dtype=np.uint8)
    np.testing.assert_array_equal(haplotype_bases(ref, [1, 3], per_hap, alleles), [[[2, 3], [1, 3]]])
    with pytest.raises(InputError, match="alleles"):
        haplotype_bases(ref, [1, 3], per_hap[0, 0], alleles[:, :, :1])


def test_save_load_round_trip(model, tokens, tmp_path):
    save_weights(model, tmp_path)
    assert (tmp_path / "pytorch_model.bin").is_file()
    loaded = load_model(tmp_path, device="cpu")
    assert loaded.window == model.window
    np.testing.assert_array_equal(score_tokens(loaded, tokens), score_tokens(model, tokens))


def test_weights_directory_errors(tmp_path):
    with pytest.raises(ModelError, match="python -m compute weights export"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="no model.safetensors"):
        load_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="expected 'enformer'"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "enformer"}))
    with pytest.raises(ModelError, match="cannot load the weights"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="weights directory"):
        load_model(None)


def test_track_and_bin_errors(model, tokens):
    with pytest.raises(ModelError, match="track index 5313 is out of range"):
        score_tokens(model, tokens, ModelSpec(track=5313))
    with pytest.raises(ModelError, match="track index -1"):
        score_tokens(model, tokens, ModelSpec(track=-1))
    with pytest.raises(ModelError, match="bins"):
        score_tokens(model, tokens, ModelSpec(bins=(15, 16)))
    with pytest.raises(ModelError, match="summary"):
        score_tokens(model, tokens, ModelSpec(summary="mean"))
    with pytest.raises(ModelError, match="shifts"):
        score_tokens(model, tokens, ModelSpec(shifts=(4,)))
    with pytest.raises(ModelError, match="head"):
        score_tokens(model, tokens, ModelSpec(head="mouse"))


def test_window_errors(model, tokens):
    with pytest.raises(ModelError, match="does not match the model, which takes 4,096 bp"):
        score_tokens(model, tokens[:, :2048])
    with pytest.raises(ModelError, match="196,608"):
        small_model(window=4096, use_tf_gamma=True, device="cpu")
    with pytest.raises(ModelError, match="fewer than the model's 16 output bins"):
        small_model(window=1024, device="cpu")
    with pytest.raises(ModelError, match="TSS bin"):
        small_model(window=2048, target_length=2, device="cpu")
    with pytest.raises(ModelError, match="multiple"):
        small_model(window=4000, device="cpu")


def test_token_errors(model, tokens):
    with pytest.raises(InputError, match="uint8"):
        score_tokens(model, tokens.astype(np.int64))
    bad = tokens.copy()
    bad[0, 0] = 9
    with pytest.raises(InputError, match="found 9"):
        score_tokens(model, bad)
    with pytest.raises(InputError, match="positions: offset 4096"):
        score_haplotypes(model, ModelSpec(), tokens[0], [4096], np.array([1], np.uint8), np.ones((1, 2, 1)))
    with pytest.raises(ModelError, match="device"):
        small_model(device="tpu")


def test_batch_indices():
    assert [(list(i), r) for i, r in batch_indices(5, 2)] == [([0, 1], 2), ([2, 3], 2), ([4], 1)]
    assert [(list(i), r) for i, r in batch_indices(5, 3, pad=True)] == [([0, 1, 2], 3), ([3, 4, 4], 2)]
    with pytest.raises(ModelError, match="batch size"):
        list(batch_indices(5, 0))


def test_compile_mode_scores(model, tokens, monkeypatch):
    """Padded batches (compile mode) give the same scores; torch.compile itself is the identity here."""
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)
    model._compiled.clear()
    spec = ModelSpec(compile=True)
    np.testing.assert_allclose(
        score_tokens(model, tokens, spec, batch_size=3), score_tokens(model, tokens), atol=1e-6
    )
    model._compiled.clear()
