"""Pearson correlation of one vector with many columns at once, with two-sided p-values.

The building block of every statistic in DESIGN §5: r of score vs observed, eQTL
slopes, null predictors and the driver selection all reduce to correlations of
columns with one vector. A column (or vector) without variance has no correlation:
r and p are NaN there, never an exception.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# A centred vector whose norm is below this fraction of its raw scale is constant
# up to rounding (e.g. two identical columns with opposite weights summed).
_CONSTANT_RTOL = 1e-12


def correlation_pvalue(r: np.ndarray | float, n: int) -> np.ndarray:
    """Two-sided p-value of Pearson r from n pairs: t = r sqrt((n-2)/(1-r^2)) on n-2 df."""
    r = np.asarray(r, dtype=np.float64)
    df = n - 2
    if df < 1:
        return np.full(r.shape, np.nan)
    r2 = np.clip(r * r, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(r) * np.sqrt(df / (1.0 - r2))
    # |r| = 1 gives t = inf and p = 0; NaN r stays NaN.
    return 2.0 * stats.t.sf(t, df)


def pearson_columns(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and two-sided p of every column of X (n, m) with y (n,).

    Constant columns (or a constant y) give NaN r and NaN p.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"pearson_columns: expected X (n, m) and y (n,), found {X.shape} and {y.shape}")
    n = y.shape[0]
    yc = y - y.mean()
    Xc = X - X.mean(axis=0)
    sxy = yc @ Xc
    sxx = np.einsum("ij,ij->j", Xc, Xc)
    syy = float(yc @ yc)
    r = _safe_ratio(sxy, sxx, syy, _scale(X, axis=0), _scale(y, axis=None), n)
    return r, correlation_pvalue(r, n)


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson r of two vectors and its two-sided p (NaN, NaN when either is constant)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"pearson: expected a vector, found shape {x.shape}")
    r, p = pearson_columns(x[:, None], y)
    return float(r[0]), float(p[0])


def correlation_from_moments(
    sxy: np.ndarray, sxx: np.ndarray, syy: float, x_scale: np.ndarray, y_scale: float, n: int
) -> np.ndarray:
    """r = sxy / sqrt(sxx syy) from centred cross- and self-products; NaN where a side is constant.

    `x_scale`, `y_scale`: magnitude of the raw values (max |value|), to tell a
    variance that is rounding noise from a real one.
    """
    return _safe_ratio(np.asarray(sxy, float), np.asarray(sxx, float), syy, x_scale, y_scale, n)


def _scale(a: np.ndarray, axis: int | None) -> np.ndarray:
    return np.max(np.abs(a), axis=axis) if a.size else np.zeros(a.shape[1] if axis == 0 else ())


def _safe_ratio(sxy, sxx, syy, x_scale, y_scale, n) -> np.ndarray:
    x_const = np.sqrt(sxx) <= _CONSTANT_RTOL * np.sqrt(n) * x_scale
    y_const = np.sqrt(syy) <= _CONSTANT_RTOL * np.sqrt(n) * y_scale
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r = np.clip(r, -1.0, 1.0)
    return np.where(x_const | y_const, np.nan, r)
