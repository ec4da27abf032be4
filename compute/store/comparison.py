"""Two stores of the same cohort side by side, gene by gene (two models, or ensembling on and off):
read by `python -m compute compare` (compute/analyses/sensitivity.py) and the dashboard's models view
(components/models.py), so it sits with the store's readers, torch-free."""

from __future__ import annotations

import numpy as np
import pandas as pd

from compute.stats.ld import WindowLD

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


def model_label(manifest: dict) -> str:
    """What made a store, in a few words: model, head and track, readout, summary."""
    model = manifest.get("model") or {}
    if not isinstance(model, dict) or "track" not in model:
        return str(manifest.get("dataset", "store"))
    name = model.get("model", "enformer")
    return (f"{name} {model.get('head', 'human')} track {model['track']}, {model.get('readout', 'tss')} "
            f"bins, {model.get('summary', 'sum_log')}")  # fmt: skip
