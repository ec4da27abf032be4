"""`python -m compute demo build OUT`: the demo cohort through the project's own precompute.

OUT becomes a results store (DESIGN §6) with, beside its tables:

    inputs/            the simulated cohort (compute.demo.build_demo_inputs)
    model/             the demo's small Enformer (save_pretrained layout): random weights from
                       the seed, fine-tuned on the cohort's training people (model/finetune.json
                       holds the options, the people split and the per-epoch validation r)
    truth.parquet      the ground truth: causal SNVs, effects, noise, heritability per gene
    ism_logo.parquet   ISM of every base around the drivers (python -m compute ism-logo)
    motifs.parquet     JASPAR motifs the drivers break or create (python -m compute motifs),
                       with motif_enrichment.parquet

Its genotypes.parquet is the one precompute writes into every store.

The manifest says `dataset: demo` and `demo_model: true`, with `model_note`, and
under `finetune` the split: which people the model was trained on, which chose its
epoch (validation) and which it never saw (test). Everything is determined by
(n_people, seed, genes, finetune): the same call gives the same inputs, weights and numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from compute.demo import DEFAULT_SEED, EXTERNAL, build_demo_inputs
from compute.demo.expression import ExpressionSettings
from compute.errors import InputError
from compute.store import ResultsStore, write_parquet_atomic

# Window and model sized so that the whole recipe runs in minutes on 2 CPU cores:
# a 16 kb window holds about 120 simulated SNVs and as many distinct haplotypes per gene.
DEMO_WINDOW = 16_384
DEMO_MODEL = {"dim": 24, "depth": 2, "heads": 4, "attn_dim_key": 8, "target_length": 64}
MODEL_NOTE = "demo model: small Enformer fine-tuned on the demo cohort's training people"
RANDOM_MODEL_NOTE = "demo model: small random Enformer, not trained"
# Chosen by the tuning runs of docs/finetuning.md ("Measured: the demo dataset"): a second transformer
# layer with four heads and 16 epochs on a cosine schedule find the causal SNV of 4 of the 6 near-TSS
# genes (the other two lie beyond what the model reads, about 480 bp before the TSS).
DEMO_FINETUNE = {
    "window": DEMO_WINDOW, "epochs": 16, "learning_rate": 1e-3, "lr_schedule": "cosine",
    "people_per_step": 128, "loss": "mse+rank", "test_gene_fraction": 0.0,
}  # fmt: skip


# Genes of the cohort the shipped store leaves out, so that a new user can compute one from the
# page ("Compute this gene") right after `python app.py`: three genes without cis signal.
DEMO_HELD_BACK = ("MIR1286", "SCARF2", "SMPD4P1")


def build_demo_model(out_dir: str | Path, seed: int = DEFAULT_SEED) -> Path:
    """Save the demo's small random Enformer (DEMO_MODEL, DEMO_WINDOW, weights from seed) to out_dir."""
    from compute.engine.models import save_weights, small_model

    model = small_model(seed=seed, window=DEMO_WINDOW, device="cpu", **DEMO_MODEL)
    return save_weights(model, out_dir)


def demo_finetune_options(seed: int = DEFAULT_SEED):
    """The fine-tuning of the demo model: every computed gene, people split 70 / 15 / 15 by seed."""
    from compute.analyses.finetune.train import FinetuneOptions

    return FinetuneOptions(**DEMO_FINETUNE, seed=seed)


def finetune_demo_model(files, gene_ids: Sequence[str], out_dir: str | Path, seed: int, progress: bool):
    """Fine-tune the demo model (build_demo_model) on the cohort's training people of `gene_ids`;
    the best epoch's weights and model/finetune.json go to out_dir. Returns the FinetuneResult."""
    from dataclasses import replace

    from compute.analyses.finetune.train import CHECKPOINT, finetune
    from compute.engine.models import small_model

    cohort = files.load(DEMO_WINDOW)
    chosen = cohort.genes["gene_id"].isin(gene_ids)
    cohort = replace(cohort, genes=cohort.genes[chosen].reset_index(drop=True))
    start = small_model(seed=seed, window=DEMO_WINDOW, device="cpu", **DEMO_MODEL)  # build_demo_model's
    log = print if progress else (lambda _: None)
    result = finetune(cohort, start, demo_finetune_options(seed), out_dir, progress=progress, log=log)
    (Path(out_dir) / CHECKPOINT).unlink()  # optimiser state for resuming: not part of the store
    return result


def demo_settings(weights: str | Path, seed: int = DEFAULT_SEED):
    """The precompute settings of the demo (CPU, fp32, default track and summary)."""
    from compute.run.settings import ModelOptions, RunSettings, StatsOptions

    return RunSettings(
        window=DEMO_WINDOW,
        model=ModelOptions(weights=str(weights), batch_size=16, device="cpu"),
        stats=StatsOptions(seed=seed),
    )


def gene_ids_for_names(genes: pd.DataFrame, wanted: Sequence[str] | None, source: Path) -> list[str] | None:
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
    finetune: bool = True,
    held_back: Sequence[str] = DEMO_HELD_BACK,
) -> ResultsStore:
    """Simulate the demo cohort into out/inputs, build the demo model, fine-tune it on the
    training people (finetune=False: keep it random), precompute with it, mark the store.

    genes: gene names or IDs to fine-tune on (default: every gene of the region); the inputs
    always hold every gene. held_back: names or IDs of those genes the store leaves for the
    dashboard to compute on demand (the model is fine-tuned on them all the same).
    """
    from compute.run.pipeline import precompute
    from compute.run.settings import CohortFiles

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
    gene_ids = gene_ids_for_names(gene_table, genes, paths["genes"])
    files = CohortFiles(
        fasta=str(paths["fasta"]), vcf=str(paths["vcf"]), genes=str(paths["genes"]),
        expression=str(paths["expression"]),
    )  # fmt: skip
    tuned = None
    if finetune:
        trained_on = gene_ids if gene_ids is not None else list(gene_table["gene_id"])
        tuned = finetune_demo_model(files, trained_on, out / "model", seed, progress)
        weights = out / "model"
    else:
        weights = build_demo_model(out / "model", seed)
    chosen = gene_ids if gene_ids is not None else list(gene_table["gene_id"])
    names = dict(zip(gene_table["gene_id"], gene_table["gene_name"].str.upper(), strict=True))
    wanted = {g.upper() for g in held_back}
    kept_back = [g for g in chosen if g.upper() in wanted or names[g] in wanted]
    computed = [g for g in chosen if g not in kept_back]
    store = precompute(files, demo_settings(weights, seed), out, genes=computed, progress=progress)
    store.update_manifest(held_back=kept_back)

    truth = pd.read_csv(paths["truth"], sep="\t", dtype={"gene_id": str, "variant_id": str})
    write_parquet_atomic(out / "truth.parquet", truth)
    mark_demo_store(store, json.loads(paths["summary"].read_text()), tuned)
    add_analyses(store)
    return store


def add_analyses(store: ResultsStore) -> None:
    """The analyses every panel of the dashboard shows: ISM around the drivers (logo panel) and
    the motifs they change, from the store's own model and reference."""
    from compute.analyses.logo_ism import store_logo_ism
    from compute.analyses.motifs import scan_store

    store_logo_ism(store.path, device="cpu")
    scan_store(store.path)


def finetune_record(result) -> dict:
    """The manifest's account of the demo's fine-tuning: options, best epoch and the people split."""
    from dataclasses import asdict

    split = result.split
    best = result.history[result.best_epoch]
    return {
        "record": "model/finetune.json",
        "options": {k: v for k, v in asdict(demo_finetune_options(split.seed)).items() if k in DEMO_FINETUNE},
        "best_epoch": result.best_epoch,
        "validation_r": best["validation_r"],
        "validation_r_start": result.history[0]["validation_r"],
        "n_train_people": len(split.train_people),
        "n_validation_people": len(split.validation_people),
        "train_genes": list(split.train_genes),
        "test_people": list(split.test_people),  # never seen in training nor in choosing the epoch
        "validation_people": list(split.validation_people),
    }


def mark_demo_store(store: ResultsStore, recipe: dict, tuned=None) -> None:
    """Say in the manifest that this is the demo dataset, what its small model is and, when
    fine-tuned, which people it was trained on."""
    manifest = store.manifest
    inputs = inputs_inside(store)
    model = dict(manifest.get("model", {}))
    model["weights"] = "model"
    model["demo_config"] = {**DEMO_MODEL, "window": DEMO_WINDOW, "seed": recipe["seed"]}
    note = MODEL_NOTE if tuned is not None else RANDOM_MODEL_NOTE
    store.update_manifest(
        dataset="demo",
        demo_model=True,
        model_note=note,
        finetune=finetune_record(tuned) if tuned is not None else None,
        description=f"Demo: {recipe['n_people']} simulated people on real GRCh37 chr22 20-21 Mb; {note}",
        inputs=inputs,
        model=model,
        recipe=recipe,
        truth="truth.parquet",
    )


def inputs_inside(store: ResultsStore) -> dict:
    """The manifest's inputs named by paths inside the store, so that the store can move."""
    inputs = store.manifest.get("inputs", {})
    for entry in inputs.values():
        entry["path"] = store.record(entry["path"])
        entry.pop("mtime_ns", None)  # a copy's files have their own times: sha256 and size say it
    return inputs
