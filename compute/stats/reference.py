"""Direct, slow implementations of DESIGN §5 written from the definitions with scipy.

They loop the way the definitions read (one scipy call per SNV, per draw, per
forward-selection step, each partial sum recomputed from scratch). They are the
oracle for tests/test_stats.py and the baseline of benchmarks/bench_stats.py;
the pipeline never calls them.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from compute.stats.correlation import pearson


def _pearsonr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """scipy.stats.pearsonr, with (NaN, NaN) for a constant input instead of a warning."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    res = stats.pearsonr(x, y)
    return float(res.statistic), float(res.pvalue)


def drivers_naive(ism: np.ndarray, dosage: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """The forward selection, each partial sum summed anew: O(n_people x n_snvs^2)."""
    ism = np.asarray(ism, dtype=np.float64)
    G = np.asarray(dosage, dtype=np.float64)
    n_snvs = len(ism)
    order = np.argsort(-np.abs(ism), kind="stable")
    contributions = G[:, order] * ism[order]
    total = _pearsonr(contributions.sum(axis=1), score)[0]
    gain = np.full(n_snvs, np.nan)
    is_driver = np.zeros(n_snvs, dtype=bool)
    previous = 0.0
    for k in range(n_snvs):
        partial = contributions[:, : k + 1].sum(axis=1)
        r_partial = _pearsonr(partial, score)[0]
        if np.isnan(r_partial):
            r_partial = 0.0  # a constant partial sum explains nothing
        frac = r_partial / total if np.isfinite(total) and total != 0 else np.nan
        v = order[k]
        gain[v] = frac - previous
        r_single, p_single = _pearsonr(contributions[:, k], score)
        is_driver[v] = bool(gain[v] > 0.05 and r_single > 0 and p_single < 0.01 / n_snvs)
        previous = frac
    is_main = np.zeros(n_snvs, dtype=bool)
    if is_driver.any():
        candidates = np.flatnonzero(is_driver)
        is_main[candidates[np.argmax(gain[candidates])]] = True
    return {"driver_gain": gain, "is_driver": is_driver, "is_main_driver": is_main, "total": total}


def null_correlations_naive(dosage: np.ndarray, observed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """r_k of each weight column's predictor with observed expression, one scipy call per draw."""
    G = np.asarray(dosage, dtype=np.float64)
    return np.array([_pearsonr(G @ weights[:, k], observed)[0] for k in range(weights.shape[1])])


def eqtl_naive(dosage: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy.stats.linregress per SNV (NaN for monomorphic SNVs)."""
    G = np.asarray(dosage, dtype=np.float64)
    slope = np.full(G.shape[1], np.nan)
    p = np.full(G.shape[1], np.nan)
    for v in range(G.shape[1]):
        if np.ptp(G[:, v]) > 0:
            fit = stats.linregress(G[:, v], observed)
            slope[v], p[v] = fit.slope, fit.pvalue
    return slope, p


def gene_statistics_naive(
    score: np.ndarray, observed: np.ndarray, dosage: np.ndarray, ism: np.ndarray, weights: np.ndarray
) -> dict:
    """The per-gene statistics of compute.stats.gene_statistics (without the elastic net), naively."""
    G = np.asarray(dosage, dtype=np.float64)
    r, p = _pearsonr(score, observed)
    null_r = np.abs(null_correlations_naive(G, observed, weights))
    slope, slope_p = eqtl_naive(G, observed)
    lin_r = _pearsonr(G @ ism, score)[0]
    return {
        "r": r,
        "p_r": p,
        "null_mean": float(np.mean(null_r)),
        "null_std": float(np.std(null_r)),
        "eqtl_slope": slope,
        "eqtl_p": slope_p,
        "linear_r": lin_r,
        **drivers_naive(ism, G, score),
    }


def predixcan_r_sklearn(
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
    """compute.stats.baselines.predixcan_r with scikit-learn's ElasticNetCV in each outer fold.

    The reference the fast elastic net (compute/stats/elastic_net.py) is tested and benchmarked against.

    NaN when no outer fold selects any SNV (every prediction is a training mean),
    when there is no polymorphic SNV, or when the held-out predictions are constant.
    l1_ratio 0.5 is PrediXcan's alpha = 0.5. The penalty path has `n_alphas` values
    from the smallest penalty that removes every SNV down to `eps` times it (glmnet's
    lambda.min.ratio 0.01 for more SNVs than people); a longer or deeper path barely
    moves the chosen penalty but costs most of the time (benchmarks/bench_stats.py).
    """
    # scikit-learn loads in about a second: only when the baseline is asked for, so that
    # re-testing a store (cohort_statistics) stays light
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    G = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    if G.ndim != 2 or y.shape != (G.shape[0],):
        raise ValueError(f"predixcan_r: expected dosage (n, m) and observed (n,), found {G.shape}, {y.shape}")
    G = G[:, G.std(axis=0) > 0]  # monomorphic SNVs cannot be selected; dropping them saves time
    if G.shape[1] == 0 or np.std(y) == 0:
        return float("nan")

    predictions = np.empty_like(y)
    selected_any = False
    outer = KFold(outer_folds, shuffle=True, random_state=seed)
    for train, test in outer.split(G):
        model = ElasticNetCV(
            l1_ratio=l1_ratio,
            alphas=n_alphas,
            eps=eps,
            cv=KFold(inner_folds, shuffle=True, random_state=seed),
            max_iter=max_iter,
            tol=tol,
        )
        with warnings.catch_warnings():
            # a few penalties on the long path may stop early; the chosen fit is what matters
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(G[train], y[train])
        predictions[test] = model.predict(G[test])
        selected_any |= bool(np.any(model.coef_ != 0))
    if not selected_any:
        return float("nan")
    return pearson(predictions, y)[0]
