"""Each gene's phased genotypes in a store, packed to one bit per haplotype and SNV.

At the full study's size (839 people x ~3,000 SNVs a gene) a long table of int8
dosages would hold 2.5 M rows a gene (~17 GB for 6,825 genes); packed, a gene is
one row of `genotypes.parquet` with 3,000 x 2 x 105 bytes (~0.6 MB before zstd),
read by row-group statistics in milliseconds (docs/benchmarks.md). The layout:

    person_ids   list of the people, in the order of the bits
    variant_ids  list of the window's SNVs, in the order of the variants table
    bits         np.packbits of alleles as (n_snvs, 2, n_people) along people:
                 bit 1 where that haplotype (hap1, hap2) carries the kept ALT
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

GENOTYPES_TABLE = "genotypes"
GENOTYPE_COLUMNS = ["gene_id", "n_people", "n_snvs", "person_ids", "variant_ids", "bits"]


def pack_alleles(alleles: np.ndarray) -> bytes:
    """`alleles` uint8 (n_people, 2, n_snvs) of 0/1 -> packed bytes (n_snvs, 2, ceil(n_people / 8))."""
    alleles = np.asarray(alleles)
    if alleles.ndim != 3 or alleles.shape[1] != 2:
        raise ValueError(f"expected alleles of shape (n_people, 2, n_snvs), found {alleles.shape}")
    if alleles.size and alleles.max() > 1:
        raise ValueError("alleles must be 0 or 1 (1 = the haplotype carries the kept ALT)")
    return np.packbits(alleles.transpose(2, 1, 0).astype(np.uint8), axis=-1).tobytes()


def unpack_alleles(bits: bytes, n_people: int, n_snvs: int) -> np.ndarray:
    """The inverse of `pack_alleles`: uint8 (n_people, 2, n_snvs)."""
    width = (n_people + 7) // 8
    packed = np.frombuffer(bits, dtype=np.uint8)
    if packed.size != n_snvs * 2 * width:
        raise ValueError(f"{packed.size} genotype bytes for {n_people} people x {n_snvs} SNVs")
    unpacked = np.unpackbits(packed.reshape(n_snvs, 2, width), axis=-1, count=n_people)
    return unpacked.transpose(2, 1, 0)


def genotype_row(gene_id: str, person_ids: Sequence[str], variant_ids: Sequence[str], alleles) -> dict:
    """One gene's row of the genotypes table."""
    alleles = np.asarray(alleles)
    if alleles.shape[0] != len(person_ids) or alleles.shape[2] != len(variant_ids):
        raise ValueError(
            f"alleles {alleles.shape} do not match {len(person_ids)} people x {len(variant_ids)} SNVs"
        )
    return {
        "gene_id": gene_id,
        "n_people": len(person_ids),
        "n_snvs": len(variant_ids),
        "person_ids": [str(p) for p in person_ids],
        "variant_ids": [str(v) for v in variant_ids],
        "bits": pack_alleles(alleles),
    }


@dataclass(frozen=True)
class _GenotypeWindow:
    """The people and SNVs of one gene's stored genotypes, whichever way their alleles are held."""

    person_ids: list[str]
    variant_ids: list[str]

    def index(self, variant_id: str) -> int | None:
        try:
            return self.variant_ids.index(variant_id)
        except ValueError:
            return None


@dataclass(frozen=True)
class GeneGenotypes(_GenotypeWindow):
    """One gene's people x SNVs genotypes, as read from a store."""

    alleles: np.ndarray  # uint8 (n_people, 2, n_snvs)

    @classmethod
    def from_row(cls, row: pd.Series | dict) -> GeneGenotypes:
        n_people, n_snvs = int(row["n_people"]), int(row["n_snvs"])
        alleles = unpack_alleles(row["bits"], n_people, n_snvs)
        return cls(list(row["person_ids"]), list(row["variant_ids"]), alleles)

    @property
    def dosage(self) -> np.ndarray:
        """ALT dosage, int8 (n_people, n_snvs), values 0, 1, 2 (a transposed view: SNV-major in
        memory, as the bits are, so a reader per SNV, as the LD helper is, takes rows)."""
        by_snv = self.alleles.transpose(2, 1, 0)  # (n_snvs, 2, n_people): contiguous when unpacked
        return (by_snv[:, 0, :] + by_snv[:, 1, :]).astype(np.int8).T

    def snv_dosage(self, variant_id: str) -> pd.Series | None:
        """Dosage per person_id of one SNV; None when the SNV is not in the window."""
        dosage = self.snv_dosage_array(variant_id)
        if dosage is None:
            return None
        return pd.Series(dosage, index=pd.Index(self.person_ids, name="person_id"), name="dosage")

    def snv_dosage_array(self, variant_id: str) -> np.ndarray | None:
        """The same as int8 in the order of `person_ids` (no index built)."""
        k = self.index(variant_id)
        return None if k is None else self.alleles[:, :, k].sum(axis=1, dtype=np.int8)


@dataclass(frozen=True)
class PackedGenotypes(_GenotypeWindow):
    """One gene's genotypes as stored, the bits left packed: what the dashboard reads (LD by
    counting bits, compute.stats.ld.PackedWindowLD; one SNV's dosages unpacked when asked), a
    tenth of the memory of `GeneGenotypes` and no unpacking of the whole window."""

    bits: np.ndarray  # uint8 (n_snvs, 2, ceil(n_people / 8)), read-only: the stored bytes

    @classmethod
    def from_row(cls, row: pd.Series | dict) -> PackedGenotypes:
        n_people, n_snvs = int(row["n_people"]), int(row["n_snvs"])
        width = (n_people + 7) // 8
        packed = np.frombuffer(row["bits"], dtype=np.uint8)
        if packed.size != n_snvs * 2 * width:
            raise ValueError(f"{packed.size} genotype bytes for {n_people} people x {n_snvs} SNVs")
        return cls(list(row["person_ids"]), list(row["variant_ids"]), packed.reshape(n_snvs, 2, width))

    def snv_dosage_array(self, variant_id: str) -> np.ndarray | None:
        """ALT dosage (int8, 0/1/2) of one SNV in the order of `person_ids`; None when the SNV is
        not in the window."""
        k = self.index(variant_id)
        if k is None:
            return None
        alleles = np.unpackbits(self.bits[k], axis=-1, count=len(self.person_ids))  # (2, n_people)
        return alleles.sum(axis=0, dtype=np.int8)
