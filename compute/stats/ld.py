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


class PackedWindowLD:
    """The same r² as `WindowLD`, from the window's haplotypes packed one bit a person
    (compute/store/genotypes.py: uint8 (n_snvs, 2, ceil(n_people / 8)), bit 1 where that haplotype
    carries ALT) without unpacking them: a dosage is a + b of two bits, so every sum of dosages and
    of their products is a count of set bits (a·c + a·d + b·c + b·d for two SNVs), exact in
    integers. A gene of 839 people x 3,000 SNVs is ~0.7 MB of bits instead of a 10 MB matrix, and a
    reference SNV costs four ANDs and counts over it."""

    def __init__(self, bits: np.ndarray, n_people: int):
        bits, width = np.asarray(bits, dtype=np.uint8), (n_people + 7) // 8
        if bits.ndim != 3 or bits.shape[1:] != (2, width):
            raise ValueError(f"expected packed bits of shape (n_snvs, 2, {width}), found {bits.shape}")
        n_snvs = bits.shape[0]
        padded = np.zeros((n_snvs, 2, 8 * -(-width // 8)), dtype=np.uint8)  # whole 64-bit words
        padded[:, :, :width] = bits
        if n_people % 8:  # only the people's bits count (packbits fills the last byte from the left)
            padded[:, :, width - 1] &= np.uint8((0xFF << (8 - n_people % 8)) & 0xFF)
        self._words = padded.view(np.uint64)  # (n_snvs, 2, words)
        self._n = n_people
        carried = np.bitwise_count(self._words).sum(axis=2, dtype=np.int64)  # ALT alleles per haplotype
        both = np.bitwise_count(self._words[:, 0] & self._words[:, 1]).sum(axis=1, dtype=np.int64)
        self._sums = carried.sum(axis=1)  # sum of dosages
        squares = self._sums + 2 * both  # sum of (a + b)² = a + b + 2ab for bits
        self._spread = n_people * squares - self._sums * self._sums  # n² x the variance: 0 when constant

    @property
    def n_snvs(self) -> int:
        return self._words.shape[0]

    def r2(self, index: int) -> np.ndarray:
        """r² of every SNV with SNV `index`; NaN where either does not vary, 1 for itself."""
        reference = self._words[index]  # (2, words)
        dot = np.bitwise_count(self._words[:, :, None, :] & reference[None, None, :, :])
        dot = dot.sum(axis=(1, 2, 3), dtype=np.int64)  # sum over people of dosage x reference dosage
        covariance = (self._n * dot - self._sums * self._sums[index]).astype(np.float64)  # exact
        spread = self._spread.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = covariance * covariance / (spread * spread[index])
        r2 = np.clip(r2, 0.0, 1.0)
        r2[(spread == 0) | (spread[index] == 0)] = np.nan
        if spread[index] > 0:
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
