"""Linkage disequilibrium within a window: r² of dosages with one SNV, from the cohort's people.

r² here is the squared Pearson correlation of ALT dosages across people (genotype r²,
what LocusZoom shows for unphased data and what an eQTL analysis sees).
"""

from __future__ import annotations

import numpy as np

# LocusZoom's bins, lowest first: r² in [0, 0.2), [0.2, 0.4), ..., [0.8, 1]
R2_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


class WindowLD:
    """r² of the SNVs of one window with any of them: the centred dosages are kept, so each new
    reference SNV costs one matrix-vector product (people x SNVs), not a correlation matrix."""

    def __init__(self, dosage: np.ndarray):
        x = np.asarray(dosage, dtype=np.float64)
        centred = x - x.mean(axis=0)
        self._norms = np.sqrt(np.einsum("ij,ij->j", centred, centred))
        self._centred = centred.astype(np.float32)  # half the memory; r² to ~1e-6

    @property
    def n_snvs(self) -> int:
        return self._centred.shape[1]

    def r2(self, index: int) -> np.ndarray:
        """r² of every SNV with SNV `index`; NaN where either does not vary, 1 for itself."""
        norms, ref_norm = self._norms, self._norms[index]
        dot = (self._centred.T @ self._centred[:, index]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = dot / (norms * ref_norm)
        r2 = np.clip(r * r, 0.0, 1.0)
        r2[(norms == 0) | (ref_norm == 0)] = np.nan
        if ref_norm > 0:
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
