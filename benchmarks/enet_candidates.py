"""The PrediXcan-style nested cross-validation on maintained public solvers, for benchmarks/bench_stats.py.

Every candidate runs the same model and selection as scikit-learn's ElasticNetCV inside
`compute.stats.baselines.predixcan_r`: objective 1/(2n) ||y - Xw - b||^2 + a l ||w||_1 +
a (1 - l)/2 ||w||^2, the same penalty path (compute.stats.elastic_net.alpha_grid), the same
KFold splits, the penalty of least mean test MSE refitted on all training rows, warm starts
down the path. Only the solver of each penalty differs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compute.stats.correlation import pearson
from compute.stats.elastic_net import alpha_grid

# (X people x SNVs, y, alphas) -> [(coef, intercept) per alpha], warm-started down the path
PathFn = Callable[[np.ndarray, np.ndarray, np.ndarray], list[tuple[np.ndarray, float]]]


def warm_path(make: Callable[[float], object]) -> PathFn:
    """A path of scikit-learn-style estimators: `make(alpha)` with warm_start=True, refitted down the path."""

    def path(X, y, alphas):
        model = make(float(alphas[0]))
        out = []
        for alpha in alphas:
            model.set_params(alpha=float(alpha)).fit(X, y)
            out.append((model.coef_.copy(), float(model.intercept_)))
        return out

    return path


def skglm_path(l1_ratio: float, tol: float = 1e-4, max_iter: int = 50) -> PathFn:
    def make(alpha):
        from skglm import ElasticNet

        return ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=tol, max_iter=max_iter, warm_start=True)

    return warm_path(make)


def celer_path(l1_ratio: float, tol: float = 1e-4) -> PathFn:
    def make(alpha):
        from celer import ElasticNet

        return ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=tol, warm_start=True)

    return warm_path(make)


def glum_path(l1_ratio: float, gradient_tol: float = 1e-4) -> PathFn:
    def path(X, y, alphas):
        from glum import GeneralizedLinearRegressor

        model = GeneralizedLinearRegressor(
            family="normal", alpha_search=True, alphas=np.asarray(alphas, float), l1_ratio=l1_ratio,
            fit_intercept=True, gradient_tol=gradient_tol, scale_predictors=False,
        )  # fmt: skip
        model.fit(X, y)
        return [
            (np.asarray(c), float(b)) for c, b in zip(model.coef_path_, model.intercept_path_, strict=True)
        ]

    return path


def nested_cv_r(
    dosage: np.ndarray,
    observed: np.ndarray,
    path: PathFn,
    seed: int = 0,
    outer_folds: int = 5,
    inner_folds: int = 5,
    l1_ratio: float = 0.5,
    n_alphas: int = 10,
    eps: float = 1e-2,
) -> tuple[float, list[float]]:
    """Held-out r of predixcan_r's nested CV with `path` as the solver, and the chosen penalties."""
    from sklearn.model_selection import KFold

    G = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    G = G[:, G.std(axis=0) > 0]
    predictions = np.empty_like(y)
    chosen = []
    for train, test in KFold(outer_folds, shuffle=True, random_state=seed).split(y):
        X, t = np.asfortranarray(G[train]), y[train]
        Xc = X - X.mean(axis=0)
        alphas = alpha_grid(Xc.T @ (t - t.mean()), len(t), l1_ratio, eps, n_alphas)
        mse = np.zeros(n_alphas)
        for inner_train, inner_test in KFold(inner_folds, shuffle=True, random_state=seed).split(t):
            fits = path(np.asfortranarray(X[inner_train]), t[inner_train], alphas)
            for k, (coef, intercept) in enumerate(fits):
                mse[k] += np.mean((t[inner_test] - X[inner_test] @ coef - intercept) ** 2)
        best = alphas[int(np.argmin(mse))]
        coef, intercept = path(X, t, np.array([best]))[-1]
        predictions[test] = G[test] @ coef + intercept
        chosen.append(float(best))
    return pearson(predictions, y)[0], chosen


CANDIDATES: dict[str, Callable[[float], PathFn]] = {
    "skglm": skglm_path,
    "celer": celer_path,
    "glum": glum_path,
}
