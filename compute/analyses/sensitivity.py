"""Two stores of the same cohort side by side: ensembling on vs off (the paper's sensitivity
analysis), or two models (Enformer, Borzoi, AlphaGenome).

- `sign_agreement`: of the correlations significant in one store, the fraction
  whose sign another store (ensembling on vs off) keeps (the paper: ~96%);
- `gene_comparison`: per gene, r of A and of B, where each is significant, whether the signs differ;
- `drivers_side_by_side`: one gene's driver SNVs in each store with their support, and the LD (r²)
  between the drivers of A and those of B;
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


WHERE = ("both", "A only", "B only", "neither")


def gene_comparison(genes_a: pd.DataFrame, genes_b: pd.DataFrame) -> pd.DataFrame:
    """Per shared gene: gene_id, gene_name, r_a, r_b, significant_a, significant_b, where (both, A only,
    B only, neither: which store finds the gene significant) and sign_differs (both r finite and of
    opposite signs), sorted by gene_id."""
    keep = ["gene_id", "r", "significant"]
    a = genes_a[keep + (["gene_name"] if "gene_name" in genes_a else [])]
    both = a.merge(genes_b[keep], on="gene_id", suffixes=("_a", "_b"))
    for side in ("a", "b"):
        both[f"significant_{side}"] = both[f"significant_{side}"].astype("boolean").fillna(False).astype(bool)
    sig_a, sig_b = both["significant_a"].to_numpy(), both["significant_b"].to_numpy()
    both["where"] = np.select([sig_a & sig_b, sig_a, sig_b], WHERE[:3], WHERE[3])
    r_a, r_b = both["r_a"].to_numpy(float), both["r_b"].to_numpy(float)
    both["sign_differs"] = np.isfinite(r_a) & np.isfinite(r_b) & (np.sign(r_a) * np.sign(r_b) < 0)
    if "gene_name" not in both:
        both["gene_name"] = both["gene_id"]
    columns = ["gene_id", "gene_name", "r_a", "r_b", "significant_a", "significant_b", "where"]
    return both[[*columns, "sign_differs"]].sort_values("gene_id").reset_index(drop=True)


def drivers_side_by_side(store_a, store_b, gene_id: str) -> tuple[pd.DataFrame, np.ndarray]:
    """One gene's drivers in store A and in store B: (table of store, variant_id, pos, ism, eqtl_slope,
    is_main_driver, supported; r² between each driver of A (rows) and each of B (columns), NaN where
    neither store's genotypes hold both SNVs). The windows of two models differ; LD is read from a
    store whose genotypes hold both SNVs."""
    from compute.stats.ld import WindowLD

    columns = ["variant_id", "pos", "ism", "eqtl_slope", "is_main_driver", "supported"]
    frames = []
    for name, store in (("A", store_a), ("B", store_b)):
        v = store.variants(gene_id)
        drivers = v.loc[v["is_driver"].astype(bool), [c for c in columns if c in v]].copy()
        drivers.insert(0, "store", name)
        frames.append(drivers)
    table = pd.concat(frames, ignore_index=True)
    ids_a = table.loc[table["store"] == "A", "variant_id"].tolist()
    ids_b = table.loc[table["store"] == "B", "variant_id"].tolist()
    r2 = np.full((len(ids_a), len(ids_b)), np.nan)
    for store in (store_a, store_b):
        genotypes = store.genotypes(gene_id) if store.has_genotypes() else None
        if genotypes is None:
            continue
        ld = WindowLD(genotypes.dosage)
        for i, va in enumerate(ids_a):
            k = genotypes.index(va)
            if k is None:
                continue
            row = ld.r2(k)
            for j, vb in enumerate(ids_b):
                m = genotypes.index(vb)
                if m is not None and np.isnan(r2[i, j]):
                    r2[i, j] = row[m]
    return table, r2


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


def model_label(manifest: dict) -> str:
    """What made a store, in a few words: model, head and track, readout, summary."""
    model = manifest.get("model") or {}
    if not isinstance(model, dict) or "track" not in model:
        return str(manifest.get("dataset", "store"))
    name = model.get("model", "enformer")
    return (f"{name} {model.get('head', 'human')} track {model['track']}, {model.get('readout', 'tss')} "
            f"bins, {model.get('summary', 'sum_log')}")  # fmt: skip
