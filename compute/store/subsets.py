"""Gene subsets of a store's genes table and what the dashboard shows for each: all genes, genes
with a SuSiE fine-mapped causal variant, genes of the Enformer test set; the all-track column and
its agreement with the single track; the population-average r. Plain functions, no model.
"""

from __future__ import annotations

import functools
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compute.errors import InputError
from compute.stats.baselines import population_average_r
from compute.stats.correlation import pearson

SUBSETS = {
    "all": "all genes",
    "susie": "genes with a SuSiE causal variant",
    "test_set": "Enformer test-set genes",
}
# Column of the all-track r: a computed store's, else the published 'fine-tuned' one.
ALL_TRACK_R = ("r_all_tracks", "r_fine_tuned")
SUSIE_COLUMNS = ("susie_brain_variant", "susie_cortex_variant")
POPULATION_TABLE = "population"  # optional: gene_id, ref_score, mean_observed, in_enformer_test_set
# The Enformer test-set list ships with the published store (source/enformer_test_set_genes.txt);
# the dashboard reads it from there for stores without their own flag.
TEST_SET_SOURCE = Path("source") / "enformer_test_set_genes.txt"


def base_gene_id(gene_ids: pd.Series) -> pd.Series:
    """Ensembl IDs without their version suffix (ENSG00000013573.12 -> ENSG00000013573)."""
    return gene_ids.astype("str").str.replace(r"\.\d+$", "", regex=True)


@functools.lru_cache(maxsize=4)
def read_test_set(path: str | Path) -> frozenset[str]:
    """Gene IDs of the Enformer test set (one a line), versions stripped (read once per path)."""
    from compute.store.published import read_gene_list

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: Enformer test-set gene list not found")
    return frozenset(base_gene_id(pd.Series(sorted(read_gene_list(path)))))


def in_test_set(genes: pd.DataFrame, test_set: Set[str] | None = None) -> pd.Series:
    """Boolean per gene: looked up in `test_set` when given, else the store's own flag."""
    if test_set is None:
        if "in_enformer_test_set" not in genes.columns:
            raise InputError(
                "the Enformer test-set genes are not known for this store: it has no in_enformer_test_set "
                f"column and no list was given (the published store's {TEST_SET_SOURCE})"
            )
        return genes["in_enformer_test_set"].astype("boolean").fillna(False).astype(bool)
    return base_gene_id(genes["gene_id"]).isin(test_set)


def has_susie(genes: pd.DataFrame) -> bool:
    return any(c in genes.columns for c in SUSIE_COLUMNS)


def susie_causal(genes: pd.DataFrame) -> pd.Series:
    """Boolean per gene: a SuSiE fine-mapped causal variant in brain or cortex (published columns)."""
    present = [genes[c].notna() for c in SUSIE_COLUMNS if c in genes.columns]
    if not present:
        return pd.Series(False, index=genes.index)
    return pd.concat(present, axis=1).any(axis=1)


def available_subsets(genes: pd.DataFrame, test_set: Set[str] | None = None) -> list[str]:
    """Subsets that mean something for this genes table (SuSiE needs the published columns; the
    test set the published flag, or a test-set list and Ensembl gene IDs)."""
    out = ["all"]
    if has_susie(genes):
        out.append("susie")
    ensembl = base_gene_id(genes["gene_id"]).str.startswith("ENSG").any()
    if "in_enformer_test_set" in genes.columns or (test_set is not None and ensembl):
        out.append("test_set")
    return out


def subset_mask(genes: pd.DataFrame, subset: str, test_set: Set[str] | None = None) -> pd.Series:
    """Boolean per gene for one of SUBSETS (`test_set`: the list, for stores without the flag);
    InputError for an unknown name."""
    if subset == "all":
        return pd.Series(True, index=genes.index)
    if subset == "susie":
        return susie_causal(genes)
    if subset == "test_set":
        return in_test_set(genes, test_set if "in_enformer_test_set" not in genes.columns else None)
    raise InputError(f"gene subset {subset!r}: expected one of {', '.join(SUBSETS)}")


def all_track_column(genes: pd.DataFrame) -> str | None:
    return next((c for c in ALL_TRACK_R if c in genes.columns and genes[c].notna().any()), None)


@dataclass(frozen=True)
class TrackAgreement:
    """r across genes of the single-track r and the all-track r."""

    r: float
    p: float
    n_genes: int
    column: str


def track_agreement(genes: pd.DataFrame) -> TrackAgreement | None:
    """Pearson r across genes of `r` vs the all-track r; None when the store has no all-track r."""
    column = all_track_column(genes)
    if column is None:
        return None
    x, y = genes["r"].to_numpy(float), genes[column].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return TrackAgreement(float("nan"), float("nan"), int(ok.sum()), column)
    r, p = pearson(x[ok], y[ok])
    return TrackAgreement(float(r), float(p), int(ok.sum()), column)


@dataclass(frozen=True)
class PopulationR:
    r: float
    p: float
    n_genes: int


def population_table(store) -> pd.DataFrame:
    """Genes with a reference-sequence score: the store's population table, else its genes table.

    The published release scores the reference sequence of 12,702 genes
    (MeanGeXPredFineTuned.txt), more than the 6,820 of Supplementary Table 1;
    its import keeps them all in `population.parquet`.
    """
    path = store.path / f"{POPULATION_TABLE}.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    genes = store.genes()
    columns = [c for c in ("gene_id", "ref_score", "mean_observed", "in_enformer_test_set") if c in genes]
    return genes[columns]


def population_r(
    table: pd.DataFrame, subset: str = "all", test_set: Set[str] | None = None
) -> PopulationR | None:
    """Population-average r over the genes of a subset; None without reference scores."""
    if "ref_score" not in table.columns or "mean_observed" not in table.columns:
        return None
    mask = subset_mask(table, subset, test_set).to_numpy(bool)
    x, y = table["ref_score"].to_numpy(float)[mask], table["mean_observed"].to_numpy(float)[mask]
    if (np.isfinite(x) & np.isfinite(y)).sum() < 3:
        return None
    r, p, n = population_average_r(x, y)
    return PopulationR(float(r), float(p), n)


@dataclass(frozen=True)
class SubsetSummary:
    """What the dashboard prints for one gene subset."""

    subset: str
    n_genes: int
    n_significant: int
    n_significant_negative: int
    median_r: float
    tracks: TrackAgreement | None


def subset_summary(genes: pd.DataFrame, subset: str, test_set: Set[str] | None = None) -> SubsetSummary:
    part = genes.loc[subset_mask(genes, subset, test_set).to_numpy(bool)]
    sig = part["significant"].astype("boolean").fillna(False).to_numpy(bool)
    r = part["r"].to_numpy(float)
    return SubsetSummary(
        subset=subset,
        n_genes=len(part),
        n_significant=int(sig.sum()),
        n_significant_negative=int((sig & (r < 0)).sum()),
        median_r=float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan"),
        tracks=track_agreement(part),
    )
