"""Driver SNVs: the forward selection of Sasse et al. 2023 (DESIGN §5, "Drivers").

SNVs are sorted by |ISM| (descending); each contributes c_iv = ISM_v g_iv to a
linear approximation of the person score. With total = corr(sum_v c_iv, score)
and frac_k = corr(sum_{v<=k} c_iv, score) / total (frac_0 = 0), SNV k is a driver
when frac_k - frac_{k-1} > 0.05 and corr(c_ik, score) > 0 with p < 0.01 / n_snvs.
The main driver is the driver with the largest gain.

Cost: the partial sums are one running cumulative sum over the sorted SNVs,
processed in column blocks, so the whole selection is O(n_people x n_snvs) time
and O(n_people x block) extra memory, not a correlation of a fresh sum per step
(O(n_people x n_snvs^2)).

Edge cases, chosen so that nothing is NaN by accident:
- a partial sum that is constant across people (leading SNVs monomorphic, or
  effects that cancel exactly) has correlation 0 with the score, like frac_0;
- a constant linear approximation or score, or total = 0, leaves frac and gain
  undefined (NaN) and selects no driver;
- an SNV with ISM 0 or no carriers has no single-SNV correlation (NaN) and is
  never a driver.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from compute.stats.correlation import correlation_from_moments, correlation_pvalue

GAIN_THRESHOLD = 0.05
ALPHA = 0.01
_BLOCK = 256


def drivers(
    ism: np.ndarray,
    dosage: np.ndarray,
    score: np.ndarray,
    gain_threshold: float = GAIN_THRESHOLD,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Forward selection of driver SNVs, one row per SNV in the input order.

    ism (n_snvs,), dosage (n_people, n_snvs) ALT counts, score (n_people,) person scores.
    Columns: rank (0-based position in the |ISM| order), frac (frac_k), driver_gain
    (frac_k - frac_{k-1}), r_single and p_single (corr(c_k, score) and its two-sided p),
    is_driver, is_main_driver.
    """
    ism, G, y = _check(ism, dosage, score)
    n_people, n_snvs = G.shape
    order = np.argsort(-np.abs(ism), kind="stable")

    yc = y - y.mean()
    syy = float(yc @ yc)
    y_scale = float(np.max(np.abs(y))) if n_people else 0.0
    Gc = G - G.mean(axis=0)

    # corr(c_k, score) = sign(ISM_k) corr(g_k, score); ISM_k = 0 makes c_k constant.
    g_cov = yc @ Gc
    g_ss = np.einsum("ij,ij->j", Gc, Gc)
    r_g = correlation_from_moments(g_cov, g_ss, syy, np.max(G, axis=0, initial=0.0), y_scale, n_people)
    r_single = np.where(ism != 0, np.sign(ism) * r_g, np.nan)
    p_single = correlation_pvalue(r_single, n_people)

    # Partial sums S_k = sum_{v<=k} c_v in |ISM| order: covariance with the score is a
    # cumulative sum of per-SNV covariances; the sum of squares needs the running sum.
    cov_k = np.cumsum((ism * g_cov)[order])
    ss_k = _cumulative_sum_of_squares(Gc, ism, order)
    sum_scale = np.cumsum(np.abs(ism[order]) * 2.0)  # bound on |S_k| for a tolerance
    corr_k = correlation_from_moments(cov_k, ss_k, syy, sum_scale, y_scale, n_people)
    if n_snvs and not np.isnan(syy) and np.sqrt(syy) > 1e-12 * np.sqrt(n_people) * y_scale:
        corr_k = np.where(np.isnan(corr_k), 0.0, corr_k)  # constant partial sum: no correlation

    total = corr_k[-1] if n_snvs else np.nan
    if np.isfinite(total) and total != 0:
        frac_sorted = corr_k / total
        gain_sorted = np.diff(frac_sorted, prepend=0.0)
    else:
        frac_sorted = np.full(n_snvs, np.nan)
        gain_sorted = np.full(n_snvs, np.nan)

    frac = np.empty(n_snvs)
    gain = np.empty(n_snvs)
    rank = np.empty(n_snvs, dtype=np.int64)
    frac[order] = frac_sorted
    gain[order] = gain_sorted
    rank[order] = np.arange(n_snvs)

    with np.errstate(invalid="ignore"):
        is_driver = (gain > gain_threshold) & (r_single > 0) & (p_single < alpha / max(n_snvs, 1))
    is_main = np.zeros(n_snvs, dtype=bool)
    if is_driver.any():
        is_main[np.flatnonzero(is_driver)[np.argmax(gain[is_driver])]] = True

    return pd.DataFrame(
        {
            "rank": rank,
            "frac": frac,
            "driver_gain": gain,
            "r_single": r_single,
            "p_single": p_single,
            "is_driver": is_driver,
            "is_main_driver": is_main,
        }
    )


def _cumulative_sum_of_squares(Gc: np.ndarray, ism: np.ndarray, order: np.ndarray) -> np.ndarray:
    """sum_i S_ik^2 for the centred partial sums S_k = sum_{v<=k} ISM_v Gc_iv, v in `order`."""
    n_people, n_snvs = Gc.shape
    out = np.empty(n_snvs)
    running = np.zeros(n_people)
    for start in range(0, n_snvs, _BLOCK):
        idx = order[start : start + _BLOCK]
        block = Gc[:, idx] * ism[idx]
        np.cumsum(block, axis=1, out=block)
        block += running[:, None]
        out[start : start + len(idx)] = np.einsum("ij,ij->j", block, block)
        running = block[:, -1].copy()
    return out


def _check(ism, dosage, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ism = np.asarray(ism, dtype=np.float64)
    G = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(score, dtype=np.float64)
    if G.ndim != 2 or ism.shape != (G.shape[1],) or y.shape != (G.shape[0],):
        raise ValueError(
            "drivers: expected ism (n_snvs,), dosage (n_people, n_snvs), score (n_people,); "
            f"found {ism.shape}, {G.shape}, {y.shape}"
        )
    if not np.isfinite(ism).all():
        raise ValueError(f"drivers: ISM has {int((~np.isfinite(ism)).sum())} non-finite values")
    if not np.isfinite(y).all():
        raise ValueError(f"drivers: score has {int((~np.isfinite(y)).sum())} non-finite values")
    return ism, G, y
