"""The vectorised forward selection equals the definition computed step by step from scratch."""

import numpy as np
import pytest

from compute.stats.drivers import GAIN_THRESHOLD, drivers
from compute.stats.reference import drivers_naive


def _planted_case(seed: int, n_people: int = 120, n_snvs: int = 80):
    """Random dosages; about 8% of the SNVs planted with a large effect (ISM ~ N(0, 2²)), the rest
    small (ISM ~ N(0, 0.05²)); the score is their sum plus noise. Returns ism, G, score, planted."""
    rng = np.random.default_rng(seed)
    G = rng.binomial(2, rng.uniform(0.01, 0.5, n_snvs), size=(n_people, n_snvs)).astype(np.uint8)
    planted = rng.random(n_snvs) < 0.08
    ism = rng.standard_normal(n_snvs) * np.where(planted, 2.0, 0.05)
    score = G @ ism + rng.standard_normal(n_people) * rng.uniform(0.1, 2.0)
    return ism, G, score, planted


def _random_case(seed: int, n_people: int = 120, n_snvs: int = 80):
    return _planted_case(seed, n_people, n_snvs)[:3]


def _assert_same(ism, G, score):
    fast = drivers(ism, G, score)
    naive = drivers_naive(ism, G, score)
    np.testing.assert_allclose(fast["driver_gain"], naive["driver_gain"], atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(fast["is_driver"], naive["is_driver"])
    np.testing.assert_array_equal(fast["is_main_driver"], naive["is_main_driver"])
    return fast


@pytest.mark.parametrize("seed", range(8))
def test_forward_selection_equals_naive(seed):
    fast = _assert_same(*_random_case(seed))
    assert fast["rank"].sort_values().tolist() == list(range(len(fast)))


def test_every_case_has_drivers_and_they_are_planted_large_effects():
    """The cases compared above select real drivers: each case has at least one, every driver is one
    of the SNVs planted with a large effect, the small-effect SNVs (|ISM| 40 times smaller) stay far
    below the gain threshold, and the main driver is the driver of largest gain, a large share of
    the total. Under these seeds: 1 to 3 drivers a case, small-effect gains <= 0.004, main gains >= 0.46."""
    for seed in range(8):
        ism, G, score, planted = _planted_case(seed)
        out = drivers(ism, G, score)
        chosen = out["is_driver"].to_numpy()
        gain = out["driver_gain"].to_numpy()
        assert chosen.any(), f"seed {seed}: no driver"
        assert not (chosen & ~planted).any(), f"seed {seed}: a small-effect SNV is a driver"
        assert gain[~planted].max() < GAIN_THRESHOLD / 5, f"seed {seed}: {gain[~planted].max()}"
        main = out["is_main_driver"].to_numpy()
        assert main.sum() == 1 and chosen[main].all()
        assert gain[main].item() == gain[chosen].max() > 0.25, f"seed {seed}: {gain[chosen]}"


def test_monomorphic_snvs_zero_ism_and_ties():
    ism, G, score = _random_case(11)
    order = np.argsort(-np.abs(ism))
    G[:, order[0]] = 0  # the largest |ISM| SNV has no carriers: a constant first partial sum
    G[:, order[3]] = 2
    ism[5] = 0.0
    ism[6] = -ism[order[1]]  # a tie in |ISM|, resolved by input order
    fast = _assert_same(ism, G, score)
    assert not fast.loc[order[0], "is_driver"] and np.isnan(fast.loc[order[0], "r_single"])
    assert fast.loc[order[0], "driver_gain"] == 0.0
    assert np.isnan(fast.loc[5, "r_single"]) and not fast.loc[5, "is_driver"]


def test_cancelling_partial_sum():
    rng = np.random.default_rng(3)
    g = rng.binomial(2, 0.3, size=200)
    G = np.stack([g, g, rng.binomial(2, 0.4, size=200)], axis=1)
    ism = np.array([1.0, -1.0, 0.5])  # first two partial sums: c1, then c1 + c2 = 0
    score = G @ ism + 0.1 * rng.standard_normal(200)
    fast = _assert_same(ism, G, score)
    assert fast["frac"].tolist()[1] == 0.0  # the cancelled sum explains nothing


def test_negative_total_follows_the_definition():
    ism, G, score = _random_case(5)
    _assert_same(ism, G, -score)


def test_constant_score_or_no_snvs_selects_nothing():
    ism, G, _ = _random_case(2)
    out = drivers(ism, G, np.full(G.shape[0], 4.2))
    assert not out["is_driver"].any() and out["driver_gain"].isna().all()
    out = drivers(np.zeros(0), np.zeros((10, 0)), np.arange(10.0))
    assert len(out) == 0
    out = drivers(np.zeros(4), np.ones((10, 4)), np.arange(10.0))
    assert not out["is_driver"].any()


def test_bad_shapes_and_nan_ism():
    ism, G, score = _random_case(1)
    with pytest.raises(ValueError, match="expected ism"):
        drivers(ism[:-1], G, score)
    ism[0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        drivers(ism, G, score)


def test_large_gene_in_blocks_equals_naive():
    # more SNVs than one column block of the running cumulative sum
    _assert_same(*_random_case(9, n_people=60, n_snvs=700))
