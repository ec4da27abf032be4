"""Baselines the model is compared with (DESIGN §5, "Baselines").

- PrediXcan-style elastic net per gene: dosages of the window's SNVs predict
  observed expression; nested cross-validation over people (outer K folds give
  held-out predictions, ElasticNetCV picks the penalty on the inner folds of each
  training part); r of the held-out predictions with observed expression.
- Population-average r: across genes, the reference-sequence score vs the mean
  observed expression (how well the model ranks genes, not people).
"""

from __future__ import annotations

import numpy as np

from compute.stats.correlation import pearson
from compute.stats.elastic_net import elastic_net_cv


def predixcan_r(
    dosage: np.ndarray,
    observed: np.ndarray,
    seed: int = 0,
    outer_folds: int = 5,
    inner_folds: int = 5,
    l1_ratio: float = 0.5,
    n_alphas: int = 10,
    eps: float = 1e-2,
    max_iter: int = 1000,
    tol: float = 1e-3,
) -> float:
    """Held-out Pearson r of an elastic net of observed expression on dosages.

    NaN when no outer fold selects any SNV (every prediction is a training mean),
    when there is no polymorphic SNV, when the held-out predictions are constant, or when there
    are too few people for the folds (`predixcan_min_people`: 7 with 5 and 5 folds; a gene whose
    expression is missing for most people).
    l1_ratio 0.5 is PrediXcan's alpha = 0.5. The penalty path has `n_alphas` values
    from the smallest penalty that removes every SNV down to `eps` times it (glmnet's
    lambda.min.ratio 0.01 for more SNVs than people); a longer or deeper path barely
    moves the chosen penalty but costs most of the time (benchmarks/bench_stats.py).
    Each outer fold is scikit-learn's ElasticNetCV (the reference implementation,
    compute/stats/reference.py `predixcan_r_sklearn`) computed by compute/stats/elastic_net.py.
    """
    G = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    if G.ndim != 2 or y.shape != (G.shape[0],):
        raise ValueError(f"predixcan_r: expected dosage (n, m) and observed (n,), found {G.shape}, {y.shape}")
    G = G[:, G.std(axis=0) > 0]  # monomorphic SNVs cannot be selected; dropping them saves time
    if G.shape[1] == 0 or np.std(y) == 0 or y.shape[0] < predixcan_min_people(outer_folds, inner_folds):
        return float("nan")
    from sklearn.model_selection import KFold  # scikit-learn loads in about a second: only here

    GT = np.ascontiguousarray(G.T)  # SNVs x people: the solver's layout
    predictions = np.empty_like(y)
    selected_any = False
    for train, test in KFold(outer_folds, shuffle=True, random_state=seed).split(y):
        fit = elastic_net_cv(
            GT[:, train], y[train], inner_folds, seed, l1_ratio, n_alphas, eps, tol, max_iter
        )
        predictions[test] = fit.predict(GT[:, test])
        selected_any |= bool(np.any(fit.coef != 0))
    if not selected_any:
        return float("nan")
    return pearson(predictions, y)[0]


def predixcan_min_people(outer_folds: int = 5, inner_folds: int = 5) -> int:
    """The fewest people the nested cross-validation can split: every outer training part (n less
    its largest held-out fold, ceil(n / outer_folds)) needs at least inner_folds people."""
    n = outer_folds
    while n - -(-n // outer_folds) < inner_folds:
        n += 1
    return n


def population_average_r(ref_scores: np.ndarray, mean_observed: np.ndarray) -> tuple[float, float, int]:
    """Pearson r (and two-sided p) across genes of the reference score vs mean observed expression.

    Genes where either value is NaN are left out; returns (r, p, n_genes used).
    """
    x = np.asarray(ref_scores, dtype=np.float64)
    y = np.asarray(mean_observed, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"population_average_r: expected two vectors of one length, found {x.shape}, {y.shape}"
        )
    ok = np.isfinite(x) & np.isfinite(y)
    r, p = pearson(x[ok], y[ok])
    return r, p, int(ok.sum())


def elastic_net_heldout_r(
    dosage_train: np.ndarray,
    observed_train: np.ndarray,
    dosage_test: np.ndarray,
    observed_test: np.ndarray,
    seed: int = 0,
    folds: int = 5,
    l1_ratio: float = 0.5,
    n_alphas: int = 10,
    eps: float = 1e-2,
) -> float:
    """PrediXcan-style elastic net fitted on one set of people, Pearson r on another.

    The penalty is chosen by ElasticNetCV on `folds` folds of the training people
    (the same path as `predixcan_r`, computed by compute/stats/elastic_net.py). NaN when no
    SNV is selected, no training SNV is polymorphic, or the predictions are constant.
    """
    G = np.asarray(dosage_train, dtype=np.float64)
    y = np.asarray(observed_train, dtype=np.float64)
    H = np.asarray(dosage_test, dtype=np.float64)
    keep = G.std(axis=0) > 0
    if not keep.any() or np.std(y) == 0:
        return float("nan")
    # ElasticNetCV's defaults for what predixcan_r sets: tol 1e-4, max_iter 1000
    GT = np.ascontiguousarray(G[:, keep].T)
    fit = elastic_net_cv(GT, y, folds, seed, l1_ratio, n_alphas, eps, tol=1e-4, max_iter=1000)
    if not np.any(fit.coef != 0):
        return float("nan")
    prediction = fit.predict(np.ascontiguousarray(H[:, keep].T))
    return pearson(prediction, np.asarray(observed_test, dtype=np.float64))[0]
