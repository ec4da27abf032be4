"""compute/engine/track_heads.py: the all-track elastic-net head against hand-computed weighted sums."""

import numpy as np
import pytest
import torch
from conftest import ROOT

from compute.engine.model import ModelSpec, score_haplotypes, score_tokens
from compute.engine.models import small_model
from compute.engine.track_heads import (
    TrackWeights,
    all_track_score,
    load_track_weights,
    score_haplotypes_heads,
    score_tokens_heads,
)
from compute.errors import InputError, ModelError

N_TRACKS = 12


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return small_model(seed=3, device="cpu", output_heads=dict(human=N_TRACKS))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "weights.csv"
    rows = [f"track {i}; cell,{w}" for i, w in enumerate([0.5, 0, -1.25, 0, 0, 2, 0, 0, 0.1, 0, 0, -0.3])]
    path.write_text("tracks,weights\n" + "\n".join(rows) + "\noffset,3.5\n")
    return load_track_weights(path)


@pytest.fixture(scope="module")
def tokens(model):
    return np.random.default_rng(5).integers(0, 4, size=(3, model.window)).astype(np.uint8)


def library_values(model, tokens) -> np.ndarray:
    """(B, bins, tracks) from enformer-pytorch's own forward pass."""
    with torch.no_grad():
        return model.net(torch.from_numpy(tokens).long())["human"].double().numpy()


def hand_score(values: np.ndarray, bins, weights: TrackWeights, summary: str) -> np.ndarray:
    """The weighted sum written out track by track, as the paper describes it."""
    out = np.full(values.shape[0], weights.offset)
    for track, w in enumerate(weights.weights):
        v = values[:, list(bins), track]
        out += w * (np.log(v).sum(1) if summary == "sum_log" else v.sum(1))
    return out


def test_published_weights_file():
    w = load_track_weights(ROOT / "data" / "published" / "source" / "GTExWeights.csv")
    # SOURCE.md: 698 non-zero weights, the intercept among them
    assert w.n_tracks == 5313 and len(w.used) == 697 and w.offset != 0
    assert w.track_index("CAGE:brain; adult;") == 4980
    assert w.weights[4980] == pytest.approx(0.051381) and w.offset == pytest.approx(3.87769)


def test_all_track_score_is_the_weighted_sum(weights):
    values = np.random.default_rng(0).uniform(0.1, 3, size=(4, 3, N_TRACKS))
    for summary in ("sum_log", "sum"):
        np.testing.assert_allclose(
            all_track_score(values, weights, summary), hand_score(values, (0, 1, 2), weights, summary)
        )
    # by hand for one sequence, two tracks: offset + 0.5 * log(v0) terms + ...
    one = np.ones((1, 1, N_TRACKS))
    one[0, 0, 0], one[0, 0, 5] = np.e, np.e**2
    assert all_track_score(one, weights, "sum_log")[0] == pytest.approx(3.5 + 0.5 * 1 + 2 * 2)


@pytest.mark.parametrize("summary", ["sum_log", "sum"])
def test_model_heads_match_library_forward(model, weights, tokens, summary):
    spec = ModelSpec(track=2, summary=summary)
    scores = score_tokens_heads(model, spec, weights, tokens, batch_size=2)
    values = library_values(model, tokens)
    bins = model.resolve_bins(spec)
    np.testing.assert_allclose(scores.all_tracks, hand_score(values, bins, weights, summary), rtol=1e-5)
    np.testing.assert_allclose(scores.single, score_tokens(model, tokens, spec), rtol=1e-6, atol=1e-6)
    assert np.ptp(scores.all_tracks) > 1e-3  # the head sees the sequence


def test_ensemble_averages_values_before_the_summary(model, weights, tokens):
    spec = ModelSpec(track=0, reverse_complement=True, shifts=(0, 1))
    scores = score_tokens_heads(model, spec, weights, tokens)
    np.testing.assert_allclose(scores.single, score_tokens(model, tokens, spec), rtol=1e-6, atol=1e-6)
    plain = score_tokens_heads(model, ModelSpec(track=0), weights, tokens)
    assert np.abs(scores.all_tracks - plain.all_tracks).max() > 1e-6


def test_haplotype_heads(model, weights):
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 4, size=model.window).astype(np.uint8)
    positions = np.array([100, 2000, 2100, 3000])
    alt = ((ref[positions] + 1) % 4).astype(np.uint8)
    alleles = rng.integers(0, 2, size=(5, 2, 4)).astype(np.uint8)
    spec = ModelSpec(track=7)
    scores = score_haplotypes_heads(model, spec, weights, ref, positions, alt, alleles, batch_size=3)
    single = score_haplotypes(model, spec, ref, positions, alt, alleles)
    np.testing.assert_allclose(scores.single, single, rtol=1e-6, atol=1e-6)
    # Build every haplotype by hand and score it through the library forward.
    seqs = np.repeat(ref[None], 10, axis=0)
    flat = alleles.reshape(10, 4).astype(bool)
    for h in range(10):
        seqs[h, positions[flat[h]]] = alt[flat[h]]
    expected = hand_score(library_values(model, seqs), model.resolve_bins(spec), weights, "sum_log")
    np.testing.assert_allclose(scores.all_tracks.reshape(-1), expected, rtol=1e-5)


def test_track_count_must_match(weights):
    other = small_model(seed=0, device="cpu", output_heads=dict(human=N_TRACKS + 1))
    with pytest.raises(ModelError, match="12 track weights, but the model's human head has 13"):
        score_tokens_heads(other, ModelSpec(track=0), weights, np.zeros((1, other.window), np.uint8))


@pytest.mark.parametrize(
    "text, message",
    [
        ("track,weight\na,1\noffset,0\n", "line 1: expected the header tracks,weights"),
        ("tracks,weights\na,1\nb,x\noffset,0\n", "line 3: expected a finite weight for 'b', found 'x'"),
        ("tracks,weights\na,1\nb,nan\noffset,0\n", "line 3: expected a finite weight"),
        ("tracks,weights\na,1,2\noffset,0\n", "line 2: expected 2 fields"),
        ("tracks,weights\na,1\n", "expected a last row 'offset,<intercept>'"),
        ("tracks,weights\na,1\noffset,0\nb,2\n", "line 4: expected nothing after the 'offset' row"),
        ("tracks,weights\noffset,0\n", "no track rows"),
        ("", "line 1: expected the header"),
    ],
)
def test_bad_weights_file(tmp_path, text, message):
    path = tmp_path / "w.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_track_weights(path)


def test_missing_weights_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_track_weights(tmp_path / "none.csv")
