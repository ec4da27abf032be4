"""`python -m compute demo build OUT`: the demo cohort through the project's own precompute.

OUT becomes a results store (DESIGN §6) with, beside its tables:

    inputs/            the simulated cohort (compute.demo.build_demo_inputs)
    model/             the small random Enformer the recipe builds (save_pretrained layout)
    truth.parquet      the ground truth: causal SNVs, effects, noise, heritability per gene
    genotypes.parquet  gene_id, variant_id, person_id, dosage of every window SNV (the
                       dashboard's optional genotypes table)

The manifest says `dataset: demo` and `demo_model: true`, with `model_note`.
Everything is determined by (n_people, seed, genes): the same call gives the
same inputs, weights and numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from compute.demo import DEFAULT_SEED, EXTERNAL, build_demo_inputs
from compute.demo.expression import ExpressionSettings
from compute.errors import InputError
from compute.store import ResultsStore, write_parquet_atomic

# Window and model sized so that the whole recipe runs in minutes on 2 CPU cores:
# a 16 kb window holds about 120 simulated SNVs and as many distinct haplotypes per gene.
DEMO_WINDOW = 16_384
DEMO_MODEL = {"dim": 24, "depth": 1, "heads": 1, "attn_dim_key": 8, "target_length": 64}
MODEL_NOTE = "demo model: small random Enformer, not trained"
GENOTYPE_COLUMNS = ["gene_id", "variant_id", "person_id", "dosage"]


def build_demo_model(out_dir: str | Path, seed: int = DEFAULT_SEED) -> Path:
    """Save the demo's small random Enformer (DEMO_MODEL, DEMO_WINDOW, weights from seed) to out_dir."""
    from compute.model import save_weights, small_model

    model = small_model(seed=seed, window=DEMO_WINDOW, device="cpu", **DEMO_MODEL)
    return save_weights(model, out_dir)


def demo_settings(weights: str | Path, seed: int = DEFAULT_SEED):
    """The precompute settings of the demo (CPU, fp32, default track and summary)."""
    from compute.pipeline import ModelOptions, RunSettings, StatsOptions

    return RunSettings(
        window=DEMO_WINDOW,
        model=ModelOptions(weights=str(weights), batch_size=16, device="cpu"),
        stats=StatsOptions(seed=seed),
    )


def select_genes(genes: pd.DataFrame, wanted: Sequence[str] | None, source: Path) -> list[str] | None:
    """Gene IDs for names or IDs given on the command line (None: all genes)."""
    if not wanted:
        return None
    by_name = {str(n).upper(): g for n, g in zip(genes["gene_name"], genes["gene_id"], strict=True)}
    by_id = {str(g).upper(): g for g in genes["gene_id"]}
    chosen, unknown = [], []
    for item in wanted:
        gene_id = by_id.get(item.upper()) or by_name.get(item.upper())
        (chosen if gene_id else unknown).append(gene_id or item)
    if unknown:
        raise InputError(
            f"{source}: expected gene names or IDs of the demo region, found {unknown} "
            f"(genes here: {', '.join(genes['gene_name'])})"
        )
    return list(dict.fromkeys(chosen))


def build_demo(
    out: str | Path,
    n_people: int = 839,
    seed: int = DEFAULT_SEED,
    genes: Sequence[str] | None = None,
    progress: bool = True,
    external: str | Path = EXTERNAL,
) -> ResultsStore:
    """Simulate the demo cohort into out/inputs, build the demo model, precompute, mark the store.

    genes: gene names or IDs to compute (default: every gene of the region); the
    inputs always hold every gene, so a subset has the same numbers as the whole.
    """
    from compute.pipeline import CohortFiles, precompute

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: expected a new or empty directory for the demo store, found one in use")
    paths = build_demo_inputs(
        out / "inputs",
        n_people=n_people,
        seed=seed,
        external=external,
        settings=ExpressionSettings(window=DEMO_WINDOW),
    )
    gene_table = pd.read_csv(paths["genes"], sep="\t", dtype={"gene_id": str})
    gene_ids = select_genes(gene_table, genes, paths["genes"])
    weights = build_demo_model(out / "model", seed)

    files = CohortFiles(
        fasta=str(paths["fasta"]), vcf=str(paths["vcf"]), genes=str(paths["genes"]),
        expression=str(paths["expression"]),
    )  # fmt: skip
    store = precompute(files, demo_settings(weights, seed), out, genes=gene_ids, progress=progress)

    truth = pd.read_csv(paths["truth"], sep="\t", dtype={"gene_id": str, "variant_id": str})
    write_parquet_atomic(out / "truth.parquet", truth)
    computed = list(store.genes()["gene_id"])
    write_parquet_atomic(out / "genotypes.parquet", genotype_table(files, computed, gene_table), 1 << 16)
    mark_demo_store(store, json.loads(paths["summary"].read_text()))
    return store


def genotype_table(files, gene_ids: Sequence[str], genes: pd.DataFrame) -> pd.DataFrame:
    """Dosage of every SNV in each gene's window per person, sorted by gene and SNV
    (the dashboard reads one SNV by row-group statistics)."""
    from compute.haplotypes import gene_window, window_variants

    genes = genes.set_index("gene_id")
    people = list(pd.read_csv(files.expression, sep="\t", nrows=0).columns[1:])
    frames = []
    for gene_id in sorted(gene_ids):
        gene = genes.loc[gene_id]
        start0, end0 = gene_window(int(gene["tss"]), DEMO_WINDOW)
        window = window_variants(files.vcf, str(gene["chrom"]), start0, end0, people)
        dosage = window.dosage  # (n_people, n_snvs)
        n_people, n_snvs = dosage.shape
        frames.append(
            pd.DataFrame(
                {
                    "gene_id": gene_id,
                    "variant_id": np.repeat(window.variants["variant_id"].to_numpy(), n_people),
                    "person_id": np.tile(np.asarray(people, dtype=object), n_snvs),
                    "dosage": dosage.T.reshape(-1).astype(np.int8),
                }
            )  # fmt: skip
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in GENOTYPE_COLUMNS})
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["gene_id", "variant_id"], kind="stable").reset_index(drop=True)


def mark_demo_store(store: ResultsStore, recipe: dict) -> None:
    """Say in the manifest that this is the demo dataset and its model is not a trained Enformer."""
    manifest = store.manifest
    inputs = manifest.get("inputs", {})
    for entry in inputs.values():  # paths inside the store, so the store can move
        entry["path"] = Path(entry["path"]).resolve().relative_to(store.path.resolve()).as_posix()
    model = dict(manifest.get("model", {}))
    model["weights"] = "model"
    model["demo_config"] = {**DEMO_MODEL, "window": DEMO_WINDOW, "seed": recipe["seed"]}
    store.update_manifest(
        dataset="demo",
        demo_model=True,
        model_note=MODEL_NOTE,
        description=(
            f"Demo: {recipe['n_people']} simulated people on real GRCh37 chr22 20-21 Mb; {MODEL_NOTE}"
        ),
        inputs=inputs,
        model=model,
        recipe=recipe,
        truth="truth.parquet",
        genotypes="genotypes.parquet",
    )
