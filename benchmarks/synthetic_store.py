"""A synthetic results store of any size, for dashboard tests and the full-scale benchmark.

The numbers are plausible, not real: each gene gets a target correlation r,
per-person predictions built from a few driver SNVs plus noise, observed
expression correlated with the prediction at r, SNVs spread over the window
with most ISM near zero and drivers near the TSS. Gene-level statistics follow
from the generated values with the published null-model convention (DESIGN §5),
so the volcano, BH line and driver histograms look like those of a real run.

Tables are written gene by gene in sorted gene order through a chunked
Parquet writer with the store's own row-group sizes, so a full-scale store
(6,825 genes x 839 people, ~20 M variant rows) builds in a few hundred MB of RAM.
The optional `genotypes.parquet` (the packed table every computed store has,
compute/store/genotypes.py) is written on request, with LD blocks along each
window (compute.stats.simulated_cohort.simulate_haplotypes) so the LD views
have structure; the SNVs' allele frequencies are then those of the genotypes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

from compute.stats.simulated_cohort import simulate_haplotypes
from compute.store import ROW_GROUP_ROWS, TABLES, GenotypesWriter, ResultsStore
from compute.store.genotypes import genotype_row

WINDOW_HALF = 98_304
NULL_DRAWS = 50
# Real gene names first so tests and screenshots can look them up like the published data.
NAMED_GENES = ["DDX11", "GSTM3", "ERAP2", "PEX6", "CHURC1", "NUDT2"]
# (r, number of drivers) of the two loci the paper discusses, roughly as published.
PRESET = {"DDX11": (0.85, 1), "GSTM3": (-0.49, 3)}


class ChunkedTableWriter:
    """Append gene-sorted chunks to one store table; rename into place on close.

    Mirrors `ResultsStore.write_table`: the store's column order, its row-group
    size, zstd; the caller hands over chunks already in gene_id order.
    """

    def __init__(self, store_path: Path, name: str, columns: list[str] | None = None):
        self.path = Path(store_path) / f"{name}.parquet"
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.columns = columns or TABLES[name]
        self.row_group_rows = ROW_GROUP_ROWS.get(name, 1 << 14)
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        frame = frame[self.columns]
        if self.writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self.writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        else:
            table = pa.Table.from_pandas(frame, schema=self.writer.schema, preserve_index=False)
        self.writer.write_table(table, row_group_size=self.row_group_rows)
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is None:
            raise ValueError(f"{self.path}: no rows written")
        self.writer.close()
        os.replace(self.tmp, self.path)


def gene_ids_and_names(n_genes: int) -> tuple[list[str], list[str]]:
    ids = [f"ENSG{i + 1:011d}" for i in range(n_genes)]
    names = [NAMED_GENES[i] if i < len(NAMED_GENES) else f"SYN{i + 1}" for i in range(n_genes)]
    return ids, names


def make_synthetic_store(
    path: str | Path,
    n_genes: int,
    n_people: int,
    n_snvs: int,
    seed: int = 0,
    *,
    with_people: bool = True,
    with_genotypes: bool = False,
    chunk_genes: int = 100,
) -> ResultsStore:
    """Write a synthetic store with `n_genes` genes, `n_people` people, ~`n_snvs` SNVs per gene.

    `with_people=False` makes a store like the published one (no people table,
    drivers only in variants). `with_genotypes=True` adds the packed genotypes of
    every person at every SNV (~0.3 MB a gene at 839 x 3,000 after zstd).
    """
    rng = np.random.default_rng(seed)
    path = Path(path)
    store = ResultsStore.create(
        path,
        {
            "dataset": "synthetic",
            "description": f"synthetic store, seed {seed}",
            "has_people": with_people,
            "has_all_variants": with_people,
            "has_genotypes": with_genotypes,
            "model": {"name": "synthetic"},
            "settings": {"seed": seed, "window": 2 * WINDOW_HALF},
        },
    )
    ids, names = gene_ids_and_names(n_genes)
    person_ids = [f"P{i + 1:04d}" for i in range(n_people)]
    writers = {"variants": ChunkedTableWriter(path, "variants")}
    if with_people:
        writers["people"] = ChunkedTableWriter(path, "people")
        writers["null"] = ChunkedTableWriter(path, "null")
    gene_rows = []
    with contextlib.ExitStack() as stack:
        genotypes = stack.enter_context(GenotypesWriter(path)) if with_genotypes else None
        for start in range(0, n_genes, chunk_genes):
            chunk = {name: [] for name in writers}
            for i in range(start, min(start + chunk_genes, n_genes)):
                gene, frames = _one_gene(
                    rng, ids[i], names[i], i, person_ids, n_snvs, with_people, with_genotypes
                )
                gene_rows.append(gene)
                for name in writers:
                    chunk[name].append(frames[name])
                if genotypes is not None:
                    genotypes.add(frames["genotypes"])
            for name, writer in writers.items():
                writer.write(pd.concat(chunk[name], ignore_index=True))
    for writer in writers.values():
        writer.close()
    store.write_drivers()
    store.write_table("genes", _add_gene_statistics(pd.DataFrame(gene_rows)))
    store.update_manifest(genes_done=n_genes, finalized=True)
    return ResultsStore(path)


def _one_gene(rng, gene_id, gene_name, index, person_ids, n_snvs, with_people, with_genotypes):
    n_people = len(person_ids)
    chrom = str(1 + index % 22)
    tss = int(1_000_000 + index * 250_000 + rng.integers(0, 100_000))
    strand = "+" if rng.random() < 0.5 else "-"
    n = max(1, int(rng.poisson(n_snvs))) if n_snvs > 0 else 0
    offsets = np.sort(rng.integers(-WINDOW_HALF, WINDOW_HALF, size=n))
    alt_freq = np.clip(rng.beta(0.6, 2.5, size=n), 1.0 / (2 * n_people), 1 - 1.0 / (2 * n_people))
    ism = rng.laplace(0, 0.004, size=n) * np.exp(-np.abs(offsets) / 40_000)
    # Drivers: a few SNVs close to the TSS carry large effects.
    preset_r, preset_drivers = PRESET.get(gene_name, (None, None))
    n_drivers = int(
        min(n, preset_drivers if preset_drivers is not None else rng.choice([0, 0, 1, 1, 1, 2, 3]))
    )
    drivers = rng.choice(n, size=n_drivers, replace=False) if n_drivers else np.array([], int)
    offsets[drivers] = np.clip(rng.laplace(0, 600, size=n_drivers).astype(int), -WINDOW_HALF, WINDOW_HALF - 1)
    ism[drivers] = rng.choice([-1, 1], size=n_drivers) * rng.uniform(0.05, 0.6, size=n_drivers)
    order = np.argsort(offsets, kind="stable")
    offsets, alt_freq, ism = offsets[order], alt_freq[order], ism[order]
    drivers = np.flatnonzero(np.isin(order, drivers))  # their indices after sorting by position
    if with_genotypes:  # LD blocks along the window; frequencies follow from the genotypes
        all_alleles = simulate_haplotypes(rng, n_people, n)
        alt_freq = np.clip(all_alleles.mean(axis=(0, 1)), 1.0 / (2 * n_people), 1 - 1.0 / (2 * n_people))
    pos = tss + offsets
    supported = rng.random(n) < 0.7
    sign = np.where(supported, 1.0, -1.0)
    eqtl_slope = sign * ism * rng.uniform(0.5, 2.0, size=n) + rng.normal(0, 0.01, size=n)
    is_driver = np.zeros(n, bool)
    is_driver[drivers] = True
    main = np.zeros(n, bool)
    gain = np.zeros(n)
    if n_drivers:
        gain[drivers] = rng.uniform(0.06, 0.9, size=n_drivers)
        main[drivers[np.argmax(gain[drivers])]] = True
    variant_ids = [f"{chrom}_{p}_{gene_id[-5:]}_{k}" for k, p in enumerate(pos)]
    variants = pd.DataFrame(
        {
            "gene_id": gene_id,
            "variant_id": variant_ids,
            "chrom": chrom,
            "pos": pos.astype(np.int64),
            "ref": rng.choice(list("ACGT"), size=n),
            "alt": rng.choice(list("ACGT"), size=n),
            "alt_freq": alt_freq,
            "maf": np.minimum(alt_freq, 1 - alt_freq),
            "tss_distance": offsets.astype(np.int64),
            "tss_distance_stranded": (offsets if strand == "+" else -offsets).astype(np.int64),
            "ism": ism,
            "grad_x_input": ism * 0.8 + rng.normal(0, 0.002, size=n),
            "eqtl_slope": eqtl_slope,
            "eqtl_p": np.where(is_driver, rng.uniform(1e-12, 1e-3, size=n), rng.uniform(0, 1, size=n)),
            "is_driver": is_driver,
            "is_main_driver": main,
            "driver_gain": gain,
            "supported": supported,
        }
    )
    target_r = rng.normal(0, 0.06) if rng.random() < 0.7 else rng.choice([-1, 1]) * rng.uniform(0.15, 0.9)
    target_r = preset_r if preset_r is not None else target_r
    carried = drivers if not with_genotypes else np.arange(n)
    if with_genotypes:
        alleles = all_alleles.astype(np.int8)
    else:
        alleles = (rng.random((n_people, 2, len(carried))) < alt_freq[carried]).astype(np.int8)
    ref_score = float(rng.uniform(0.5, 5))
    hap = ref_score + alleles @ ism[carried] + rng.normal(0, 0.01, size=(n_people, 2))
    predicted = hap.mean(axis=1)
    z = (predicted - predicted.mean()) / (predicted.std() or 1.0)
    observed = 3.0 + 0.4 * (target_r * z + np.sqrt(max(1 - target_r**2, 0)) * rng.normal(size=n_people))
    r = float(np.corrcoef(predicted, observed)[0, 1]) if predicted.std() > 0 else 0.0
    null_r = rng.normal(0, 1 / np.sqrt(n_people), size=NULL_DRAWS)
    linear = alleles.sum(1) @ ism[carried]
    gene = {
        "gene_id": gene_id,
        "gene_name": gene_name,
        "chrom": chrom,
        "tss": tss,
        "strand": strand,
        "n_people": n_people,
        "n_snvs": n,
        "r": r,
        "null_mean": float(np.abs(null_r).mean()),
        "null_std": float(np.abs(null_r).std(ddof=1)),
        "linear_r": float(np.corrcoef(linear, predicted)[0, 1]) if linear.std() > 0 else np.nan,
        "n_drivers": n_drivers,
        "predixcan_r": float(np.clip(abs(r) + rng.normal(0.1, 0.1), -1, 1)),
        "mean_observed": float(observed.mean()),
        "std_observed": float(observed.std(ddof=1)),
        "mean_predicted": float(predicted.mean()),
        "std_predicted": float(predicted.std(ddof=1)),
        "ref_score": ref_score,
    }
    frames = {"variants": variants}
    if with_people:
        frames["people"] = pd.DataFrame(
            {
                "gene_id": gene_id,
                "person_id": person_ids,
                "hap1": hap[:, 0],
                "hap2": hap[:, 1],
                "predicted": predicted,
                "observed": observed,
            }
        )
        frames["null"] = pd.DataFrame({"gene_id": gene_id, "draw": np.arange(NULL_DRAWS), "r": null_r})
    if with_genotypes:
        frames["genotypes"] = genotype_row(gene_id, person_ids, variant_ids, all_alleles)
    return gene, frames


def _add_gene_statistics(genes: pd.DataFrame) -> pd.DataFrame:
    """p_r, the published null-model t test and BH q-values (DESIGN §5)."""
    n = genes["n_people"].to_numpy(float)
    r = genes["r"].to_numpy(float)
    t_r = r * np.sqrt((n - 2) / np.clip(1 - r**2, 1e-12, None))
    genes["p_r"] = 2 * stats.t.sf(np.abs(t_r), n - 2)
    t = (np.abs(r) - genes["null_mean"].to_numpy()) / np.sqrt(genes["null_std"].to_numpy() / NULL_DRAWS)
    genes["t_null"] = t
    genes["p_null"] = np.where(t < 0, 1.0, stats.t.sf(np.abs(t), NULL_DRAWS - 1))
    genes["q_bh"] = stats.false_discovery_control(genes["p_null"].to_numpy(), method="bh")
    genes["significant"] = genes["q_bh"] < 0.05
    return genes
