"""ISM of every base around a SNV: the data of the dashboard's sequence-logo panel.

For each driver SNV of a computed store (and, in genes without drivers, the SNV
of largest |ISM|, which the dashboard selects first; or every SNV on request),
every position within `flank` bp of the SNV gets each of its three substitutions scored against the reference
window of the gene (`compute.engine.attribution.ism`, the same gene score as the
store's). The table `ism_logo.parquet` holds one row per (gene, SNV, position):

    gene_id, variant_id, offset (position - SNV, bp), ref (base), A, C, G, T

where A..T are score(base at that position) - score(reference), 0 at the
reference base and NaN at N. `compute.store.ism_logo.ism_logo_matrix` turns one SNV's
rows into letter heights; the dashboard draws them with the motifs the SNV
breaks or creates (`python -m compute motifs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from compute.engine.model import Model, ModelSpec
from compute.errors import InputError

LOGO_TABLE = "ism_logo"
LOGO_COLUMNS = ["gene_id", "variant_id", "offset", "ref", "A", "C", "G", "T"]
BASES = "ACGTN"
DEFAULT_FLANK = 10
SNV_CHOICES = ("drivers", "all")


def saturation_ism(
    model: Model, spec: ModelSpec, ref_tokens: np.ndarray, centre: int, flank: int
) -> np.ndarray:
    """ISM of each base at each position of `[centre - flank, centre + flank]`: (2 flank + 1, 4).

    Rows follow the positions, columns A, C, G, T; 0 at the reference base; NaN
    at N and at positions off the window.
    """
    from compute.engine.attribution import ism

    ref = np.asarray(ref_tokens, dtype=np.uint8)
    positions = np.arange(centre - flank, centre + flank + 1)
    out = np.full((positions.size, 4), np.nan)
    inside = (positions >= 0) & (positions < ref.size)
    rows, offsets, alts = [], [], []
    for row in np.flatnonzero(inside):
        base = int(ref[positions[row]])
        if base == 4:
            continue
        out[row, base] = 0.0
        for alt in range(4):
            if alt != base:
                rows.append((row, alt))
                offsets.append(positions[row])
                alts.append(alt)
    if offsets:
        values = ism(model, spec, ref, np.asarray(offsets, dtype=np.int64), np.asarray(alts, dtype=np.uint8))
        for (row, alt), value in zip(rows, values, strict=True):
            out[row, alt] = value
    return out


def logo_rows(
    gene_id: str, variant_id: str, ism_matrix: np.ndarray, ref_tokens: np.ndarray, centre: int, flank: int
) -> pd.DataFrame:
    """One SNV's table rows from `saturation_ism`'s matrix."""
    offsets = np.arange(-flank, flank + 1)
    positions = centre + offsets
    ref = np.full(offsets.size, "N", dtype=object)
    inside = (positions >= 0) & (positions < len(ref_tokens))
    ref[inside] = [BASES[int(t)] for t in np.asarray(ref_tokens)[positions[inside]]]
    frame = pd.DataFrame({"gene_id": gene_id, "variant_id": variant_id, "offset": offsets, "ref": ref})
    for k, base in enumerate("ACGT"):
        frame[base] = ism_matrix[:, k]
    return frame


def logo_snvs(variants_path: Path, snvs: str = "drivers") -> pd.DataFrame:
    """SNVs to compute: "all", or "drivers" (each gene's drivers; the SNV of largest |ISM| of a
    gene without drivers, the one the dashboard shows first)."""
    columns = ["gene_id", "variant_id", "chrom", "pos", "ism", "is_driver"]
    table = pd.read_parquet(variants_path, columns=columns)
    if snvs == "all":
        return table
    driver = table["is_driver"].astype("boolean").fillna(False).to_numpy(bool)
    has_driver = table["gene_id"].isin(set(table.loc[driver, "gene_id"])).to_numpy(bool)
    rest = table.loc[~has_driver].assign(abs_ism=lambda t: t["ism"].abs())
    top = rest.sort_values(["gene_id", "abs_ism"], ascending=[True, False], kind="stable")
    top = top.dropna(subset=["abs_ism"]).drop_duplicates("gene_id").drop(columns="abs_ism")
    return pd.concat([table.loc[driver], top]).sort_values(["gene_id", "pos"], kind="stable")


def _spec_from_manifest(manifest: dict, path: Path) -> ModelSpec:
    model = manifest.get("model") or {}
    if "track" not in model or "summary" not in model:
        raise InputError(f"{path}: the manifest records no model track and summary (not a computed store?)")
    shifts = tuple(dict.fromkeys((0, *(int(s) for s in model.get("shifts") or ()))))
    return ModelSpec(
        track=int(model["track"]),
        summary=str(model["summary"]),
        reverse_complement=bool(model.get("reverse_complement", False)),
        shifts=shifts,
    )


def store_logo_ism(
    store_path: str | Path,
    weights: str | Path | None = None,
    fasta: str | Path | None = None,
    flank: int = DEFAULT_FLANK,
    device: str = "auto",
    small: dict | None = None,
    snvs: str = "drivers",
) -> pd.DataFrame:
    """Compute `ism_logo.parquet` for SNVs of a computed store (`logo_snvs`) and write it into the store.

    The model, track, summary, ensemble, window and FASTA are the ones the
    store's manifest records, unless `weights` / `fasta` name others.
    `small` builds `compute.engine.model.small_model(**small)` instead of loading weights.
    """
    from compute.analyses.motifs import _store_fasta
    from compute.cohort.reference import Reference, gene_window
    from compute.engine.models import load_model
    from compute.store import ResultsStore, write_parquet_atomic

    store = ResultsStore(store_path)
    manifest_path = store.path / "manifest.json"
    if snvs not in SNV_CHOICES:
        raise InputError(f"SNVs: expected one of {', '.join(SNV_CHOICES)}, found {snvs!r}")
    if flank < 0:
        raise InputError(f"flank: expected a number of bp >= 0, found {flank}")
    manifest = store.manifest
    recorded_model = (manifest.get("model") or {}).get("model", "enformer")
    if recorded_model != "enformer":
        raise InputError(
            f"{manifest_path}: ism-logo reads Enformer stores; this one was made with {recorded_model} "
            "(its per-SNV ISM is in variants.parquet)"
        )
    spec = _spec_from_manifest(manifest, manifest_path)
    window = (manifest.get("settings") or {}).get("window")
    if not window:
        raise InputError(f"{manifest_path}: no window length recorded under settings")
    variants_path = store.path / "variants.parquet"
    if not variants_path.is_file():
        raise InputError(f"{variants_path}: not found; finalize the store first")
    chosen = logo_snvs(variants_path, snvs)
    genes = store.genes().set_index("gene_id")
    reference = Reference(_store_fasta(store, fasta))
    if small is None:
        recorded = (manifest.get("model") or {}).get("weights")
        weights = weights or (store.resolve(recorded) if recorded else None)
        model = load_model(weights, device=device)
    else:
        model = load_model(None, small=small, device=device)
    frames = []
    for gene_id, group in chosen.groupby("gene_id", sort=True):
        gene = genes.loc[gene_id]
        start0, end0 = gene_window(int(gene["tss"]), int(window))
        ref_tokens = reference.tokens(str(gene["chrom"]), start0, end0)
        for row in group.itertuples():
            centre = int(row.pos) - 1 - start0
            matrix = saturation_ism(model, spec, ref_tokens, centre, flank)
            frames.append(logo_rows(gene_id, row.variant_id, matrix, ref_tokens, centre, flank))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LOGO_COLUMNS)
    write_parquet_atomic(store.path / f"{LOGO_TABLE}.parquet", table[LOGO_COLUMNS])
    store.update_manifest(
        ism_logo={
            "flank": flank,
            "snvs": int(len(chosen)),
            "table": f"{LOGO_TABLE}.parquet",
            "of": snvs,
        }
    )
    return table
