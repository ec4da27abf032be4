"""Two stores of the same cohort side by side: ensembling on vs off (the paper's sensitivity
analysis), or two models (Enformer, Borzoi, AlphaGenome).

- `sign_agreement`: of the correlations significant in one store, the fraction
  whose sign another store (ensembling on vs off) keeps (the paper: ~96%);
- `gene_comparison`, `drivers_side_by_side` (compute/store/comparison.py, which the dashboard's models
  view reads too): per gene, r of A and of B and where each is significant; one gene's drivers in each
  store with their support and the LD between them;
- `compare_stores`: all of it for two stores (`python -m compute compare A B`).

The per-store views (gene subsets, all-track vs single-track r, population r) are
readers of one store's genes table: compute/store/subsets.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compute.errors import InputError
from compute.stats.correlation import pearson
from compute.store.comparison import WHERE, drivers_side_by_side, gene_comparison, model_label

__all__ = [
    "WHERE", "compare_stores", "drivers_side_by_side", "gene_comparison", "model_label", "sign_agreement",
]  # fmt: skip


@dataclass(frozen=True)
class SignAgreement:
    """Of the genes significant in store A, how many keep the sign of r in store B."""

    n_shared: int  # genes in both stores with r in both
    n_significant: int  # significant in A (among the shared)
    n_same_sign: int
    n_significant_both: int

    @property
    def fraction(self) -> float:
        return self.n_same_sign / self.n_significant if self.n_significant else float("nan")


def sign_agreement(genes_a: pd.DataFrame, genes_b: pd.DataFrame) -> SignAgreement:
    """Sign of r in B for the genes significant in A (same gene IDs; A is the reference run)."""
    a = genes_a.set_index("gene_id")[["r", "significant"]]
    b = genes_b.set_index("gene_id")[["r", "significant"]]
    both = a.join(b, how="inner", suffixes=("_a", "_b"))
    both = both.loc[np.isfinite(both["r_a"].to_numpy(float)) & np.isfinite(both["r_b"].to_numpy(float))]
    if both.empty:
        raise InputError("the two stores share no gene with an r in both; compare runs of the same genes")
    sig_a = both["significant_a"].astype("boolean").fillna(False).to_numpy(bool)
    sig_b = both["significant_b"].astype("boolean").fillna(False).to_numpy(bool)
    same = np.sign(both["r_a"].to_numpy(float)) == np.sign(both["r_b"].to_numpy(float))
    return SignAgreement(
        n_shared=len(both),
        n_significant=int(sig_a.sum()),
        n_same_sign=int((sig_a & same).sum()),
        n_significant_both=int((sig_a & sig_b).sum()),
    )


def compare_stores(path_a: str | Path, path_b: str | Path) -> dict:
    """`python -m compute compare A B`: sign agreement and r across genes of two runs, the per-gene
    comparison (`gene_comparison`) and the model each store was made with."""
    from compute.store import ResultsStore

    store_a, store_b = ResultsStore(path_a), ResultsStore(path_b)
    genes_a, genes_b = store_a.genes(), store_b.genes()
    agreement = sign_agreement(genes_a, genes_b)
    joined = genes_a[["gene_id", "r"]].merge(genes_b[["gene_id", "r"]], on="gene_id", suffixes=("_a", "_b"))
    ok = np.isfinite(joined["r_a"].to_numpy(float)) & np.isfinite(joined["r_b"].to_numpy(float))
    r_across = pearson(joined["r_a"].to_numpy(float)[ok], joined["r_b"].to_numpy(float)[ok])[0]
    only_a = len(set(genes_a.gene_id) - set(genes_b.gene_id))
    only_b = len(set(genes_b.gene_id) - set(genes_a.gene_id))
    return {
        "agreement": agreement,
        "r_across_genes": float(r_across) if ok.sum() >= 3 else float("nan"),
        "only_a": only_a,
        "only_b": only_b,
        "genes": gene_comparison(genes_a, genes_b),
        "models": (model_label(store_a.manifest), model_label(store_b.manifest)),
        "stores": (store_a, store_b),
    }
