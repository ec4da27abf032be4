"""Linkage disequilibrium within a window: r² of dosages with one SNV, from the cohort's people.

r² here is the squared Pearson correlation of ALT dosages across people (genotype r²,
what LocusZoom shows for unphased data and what an eQTL analysis sees).
"""

from __future__ import annotations

import numpy as np

# LocusZoom's bins, lowest first: r² in [0, 0.2), [0.2, 0.4), ..., [0.8, 1]
R2_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


class WindowLD:
    """r² of the SNVs of one window with any of them. Each SNV's dosage sum and sum of squares
    are kept with the dosages (as float32 rows, one per SNV), so each new reference SNV costs one
    matrix-vector product (SNVs x people) and no centred copy of the matrix is ever made. For
    integer dosages every sum and product is an integer below 2**24, exact in float32, so r² is
    computed in float64 from exact sums."""

    def __init__(self, dosage: np.ndarray):
        x = np.asarray(dosage)
        integer = np.issubdtype(x.dtype, np.integer)
        largest = max(int(x.max(initial=0)), -int(x.min(initial=0))) if integer else None
        exact = largest is not None and x.shape[0] * largest**2 < 1 << 24
        rows = np.ascontiguousarray(x.T, dtype=np.float32 if exact else np.float64)
        self._rows = rows  # (n_snvs, n_people)
        self._n = x.shape[0]
        ones = np.ones(rows.shape[1], dtype=rows.dtype)
        self._sums = (rows @ ones).astype(np.float64)  # exact for integer dosages (see above)
        squares = np.einsum("ij,ij->i", rows, rows).astype(np.float64)
        # n x the variance of each SNV's dosage; 0 (not a tiny rounding error) for a constant one
        spread = squares - self._sums * self._sums / max(self._n, 1)
        self._spread = np.where(spread > 1e-9 * np.maximum(squares, 1.0), spread, 0.0)

    @property
    def n_snvs(self) -> int:
        return self._rows.shape[0]

    def r2(self, index: int) -> np.ndarray:
        """r² of every SNV with SNV `index`; NaN where either does not vary, 1 for itself."""
        dot = (self._rows @ self._rows[index]).astype(np.float64)
        covariance = dot - self._sums * self._sums[index] / max(self._n, 1)
        spread, ref_spread = self._spread, self._spread[index]
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = covariance * covariance / (spread * ref_spread)
        r2 = np.clip(r2, 0.0, 1.0)
        r2[(spread == 0) | (ref_spread == 0)] = np.nan
        if ref_spread > 0:
            r2[index] = 1.0
        return r2


def r2_with(dosage: np.ndarray, index: int) -> np.ndarray:
    """r² of every SNV's dosage (columns of `dosage`, people x SNVs) with SNV `index`."""
    return WindowLD(dosage).r2(index)


def r2_bin(r2: np.ndarray) -> np.ndarray:
    """Bin index 0-4 of each r² (LocusZoom's 0.2-wide bins; 1.0 falls in the last), -1 for NaN."""
    r2 = np.asarray(r2, dtype=np.float64)
    bins = np.searchsorted(np.asarray(R2_BINS[1:-1]), np.nan_to_num(r2, nan=0.0), side="right")
    return np.where(np.isnan(r2), -1, bins)
