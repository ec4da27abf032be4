"""compute/stats/elastic_net.py against scikit-learn's ElasticNetCV / coordinate descent.

The fast elastic net must compute the same model as the reference
(compute/stats/reference.py predixcan_r_sklearn): the same penalty path, the same
chosen penalty in nearly every fold and held-out r within 0.005.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, ElasticNetCV
from sklearn.model_selection import KFold

from compute.stats import baselines
from compute.stats.elastic_net import CentredDesign, duality_gap, elastic_net_cv, enet_solve
from compute.stats.reference import predixcan_r_sklearn
from compute.stats.simulated_cohort import simulate_gene


def _gene(seed: int, n_people: int = 300, n_snvs: int = 500) -> tuple[np.ndarray, np.ndarray]:
    sim = simulate_gene(np.random.default_rng(seed), n_people=n_people, n_snvs=n_snvs)
    G = sim.dosage.astype(np.float64)
    return G[:, G.std(axis=0) > 0], sim.observed


def _sklearn_cv(G: np.ndarray, y: np.ndarray, seed: int, tol: float = 1e-3) -> ElasticNetCV:
    model = ElasticNetCV(
        l1_ratio=0.5, alphas=10, eps=1e-2, cv=KFold(5, shuffle=True, random_state=seed), tol=tol
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(G, y)


def test_cv_fit_has_scikit_learns_path_penalty_and_predictions():
    chosen_same, folds = 0, 0
    for seed in range(3):
        G, y = _gene(seed)
        for train, test in KFold(5, shuffle=True, random_state=seed).split(y):
            ref = _sklearn_cv(G[train], y[train], seed)
            XT = np.ascontiguousarray(G[train].T)
            fit = elastic_net_cv(XT, y[train], 5, seed, 0.5, 10, 1e-2, 1e-3, 1000)
            np.testing.assert_allclose(fit.alphas, ref.alphas_, rtol=1e-12)
            chosen_same += fit.alpha == pytest.approx(ref.alpha_, rel=1e-12)
            folds += 1
            if fit.alpha == pytest.approx(ref.alpha_, rel=1e-12):
                pred, pred_ref = fit.predict(np.ascontiguousarray(G[test].T)), ref.predict(G[test])
                # both stop within tol ||y||^2 of the minimiser's objective: predictions agree closely
                assert np.corrcoef(pred, pred_ref)[0, 1] > 0.99
    assert chosen_same >= folds - 1


def test_duality_gap_bounds_suboptimality_and_is_tighter_than_scikit_learns():
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import enet_path

    G, y = _gene(4, 200, 300)
    d = CentredDesign(np.ascontiguousarray(G.T), y)
    X = d.XT.T  # centred people x SNVs, Fortran order
    alpha = 0.02
    l1 = l2 = alpha * 0.5 * d.n

    def cd(w, sweeps, tol):  # scikit-learn's coordinate descent from w, its own (formulation A) gap
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, coefs, gaps = enet_path(X, d.y, l1_ratio=0.5, alphas=[alpha], coef_init=w, precompute=False,
                                       check_input=False, max_iter=sweeps, tol=tol)  # fmt: skip
        return coefs[:, 0], gaps[0] * d.n  # enet_path reports the gap of the objective over n

    w_star, _ = cd(np.zeros(X.shape[1]), 10000, 1e-14)

    def primal(w):
        r = d.y - X @ w
        return 0.5 * (r @ r + l2 * (w @ w)) + l1 * np.abs(w).sum()

    w = np.zeros(X.shape[1])
    for sweeps in (1, 2, 5, 20):
        w, gap_sklearn = cd(w, sweeps, 1e-14)
        resid = d.y - X @ w
        gap = duality_gap(d.y, w, resid, X.T @ resid, l1, l2)
        assert primal(w) - primal(w_star) <= gap + 1e-9
        assert gap <= gap_sklearn + 1e-9


def test_solution_satisfies_kkt_on_every_snv():
    G, y = _gene(5, 200, 400)
    d = CentredDesign(np.ascontiguousarray(G.T), y)
    alpha = 0.05
    w, resid, xtr = enet_solve(d, np.zeros(G.shape[1]), alpha, 0.5, 1e-3, 1000)
    l1 = l2 = alpha * 0.5 * d.n
    assert duality_gap(d.y, w, resid, xtr, l1, l2) <= 1e-3 * (d.y @ d.y)
    np.testing.assert_allclose(xtr, d.XT @ (d.y - w @ d.XT), atol=1e-8)
    assert d.size < w.size  # the working set left SNVs out
    coef = d.in_original_order(w)
    assert np.all(coef[d.order[d.size :]] == 0)
    # the same point as scikit-learn's ElasticNet within the tolerance both stop at
    ref = ElasticNet(alpha=alpha, l1_ratio=0.5, tol=1e-8, max_iter=10000).fit(G, y)
    Gc = G - G.mean(axis=0)
    pred, pred_ref = Gc @ coef, Gc @ ref.coef_
    assert np.linalg.norm(pred - pred_ref) <= np.sqrt(2 * 1e-3 * (d.y @ d.y))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_predixcan_r_matches_scikit_learn_reference(seed):
    G, y = _gene(10 + seed)
    got = baselines.predixcan_r(G, y, seed=seed)
    ref = predixcan_r_sklearn(G, y, seed=seed)
    assert abs(got - ref) <= 0.005
    assert got == baselines.predixcan_r(G, y, seed=seed)  # deterministic with the seed


def test_heldout_r_matches_scikit_learn():
    G, y = _gene(20, 400, 400)
    train, test = np.arange(300), np.arange(300, 400)
    got = baselines.elastic_net_heldout_r(G[train], y[train], G[test], y[test], seed=2)
    ref = _sklearn_cv(G[train], y[train], 2, tol=1e-4)
    expected = np.corrcoef(ref.predict(G[test]), y[test])[0, 1]
    assert abs(got - expected) <= 0.005
