"""`python -m compute cnn-baseline`: train the simple CNN on reference windows, then
predict every person from both haplotypes and write a results store (DESIGN §6).

1. The cohort is validated with 40,001 bp windows (TSS at index 20,000, so the SNVs
   within +/-20 kb of the TSS), and the genes are split into train, validation and
   test sets by a seeded permutation of their sorted IDs.
2. The CNN learns each gene's mean observed expression across people from its
   reference window (compute/analyses/cnn/model.py). The trained model is saved in the store
   (`cnn/model.pt`, with `cnn/training.parquet`), so a rerun reuses it.
3. Per gene: the two haplotype scores of every person, the reference score, ISM and
   gradient x input per SNV; the statistics are those of the Enformer store
   (`compute.run.gene.assemble_gene`), the null model drawing weights over the
   window's SNVs only. Each gene is written atomically; a killed run resumes.

The genes table gains a `split` column (train / validation / test); the manifest
records the split sizes and the reference-score r against mean expression per split.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from compute.analyses.cnn.model import (
    CNNConfig,
    ReferenceCache,
    SimpleCNN,
    TrainOptions,
    grad_x_input,
    ism_scores,
    load_cnn,
    save_cnn,
    score_tokens,
    train_cnn,
)
from compute.engine.model import strict_fp32
from compute.errors import InputError
from compute.run.gene import ModelOutputs, assemble_gene, format_error
from compute.run.pipeline import package_versions, select_genes
from compute.run.settings import CohortFiles, StatsOptions, same_run
from compute.store import ResultsStore, publish

SPLITS = ("train", "validation", "test")
MODEL_FILE = "cnn/model.pt"
HISTORY_FILE = "cnn/training.parquet"


@dataclass(frozen=True)
class SplitOptions:
    """Fractions of genes held out for early stopping (validation) and for evaluation (test)."""

    validation: float = 0.1
    test: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class CNNSettings:
    """Everything that decides a CNN store's numbers; recorded in its manifest."""

    config: CNNConfig = field(default_factory=CNNConfig)
    training: TrainOptions = field(default_factory=TrainOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    stats: StatsOptions = field(default_factory=StatsOptions)
    gradients: bool = True
    batch_size: int = 32  # haplotype sequences scored at a time (memory, not numbers)
    device: str = "cpu"


def split_genes(gene_ids: list[str], options: SplitOptions | None = None) -> pd.Series:
    """train / validation / test per gene: a seeded permutation of the sorted IDs, cut by the fractions.

    Sorting first makes the split independent of the order of the genes file.
    """
    options = options or SplitOptions()
    if not (0 <= options.validation < 1 and 0 <= options.test < 1 and options.validation + options.test < 1):
        raise InputError(
            f"gene split: expected validation and test fractions in [0, 1) summing below 1, "
            f"found {options.validation} and {options.test}"
        )
    ids = sorted(gene_ids)
    order = np.random.default_rng(options.seed).permutation(len(ids))
    n_test = int(round(options.test * len(ids)))
    n_val = int(round(options.validation * len(ids)))
    labels = np.full(len(ids), "train", dtype=object)
    labels[order[:n_test]] = "test"
    labels[order[n_test : n_test + n_val]] = "validation"
    split = pd.Series(labels, index=ids, name="split")
    n_train = int((split == "train").sum())
    if n_train < 2:
        raise InputError(
            f"gene split: {len(ids)} genes leave {n_train} for training; expected at least 2 "
            "(give more genes or smaller --validation/--test fractions)"
        )
    return split.loc[list(gene_ids)]


# --------------------------------------------------------------------------- one gene


def gene_outputs(
    model: SimpleCNN, cohort, gene: pd.Series, batch_size: int = 32, gradients: bool = True
) -> ModelOutputs:
    """Haplotype scores, reference score, ISM and gradient x input of one gene
    (the outputs `compute.run.gene.assemble_gene` takes)."""
    from compute.cohort.haplotypes import apply_snvs, unique_haplotypes
    from compute.cohort.reference import gene_window

    start0, end0 = gene_window(int(gene["tss"]), model.config.window)
    ref_tokens = cohort.reference.tokens(gene["chrom"], start0, end0)
    window = cohort.window_variants(gene["chrom"], start0, end0)
    offsets = window.variants["pos"].to_numpy() - 1 - start0
    alt_tokens = window.alt_tokens
    with strict_fp32(next(model.parameters()).device):
        cache = ReferenceCache(model, ref_tokens)
        # Identical haplotypes (inside the window) are scored once.
        unique_rows, inverse = unique_haplotypes(window.codes)
        unique_scores = np.concatenate(
            [
                cache.scores(apply_snvs(ref_tokens, unique_rows[s : s + batch_size], window, start0))
                for s in range(0, len(unique_rows), batch_size)
            ]
        )
        ism = ism_scores(cache, offsets, alt_tokens)
        grads = np.full(len(offsets), np.nan)
        if gradients:
            grads = grad_x_input(model, ref_tokens, offsets, alt_tokens)
    hap_scores = unique_scores[inverse].reshape(len(cohort.people), 2)
    return ModelOutputs(
        gene=gene,
        window=window,
        hap_scores=hap_scores,
        ref_score=cache.score,
        ism=ism,
        grad_x_input=grads,
    )


# --------------------------------------------------------------------------- training step


def _save_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    from compute.stats.correlation import pearson

    return float(pearson(a, b)[0]) if len(a) > 2 else float("nan")


def trained_model(
    store: ResultsStore, cohort, gene_ids: list[str], split: pd.Series, settings: CNNSettings, log
) -> SimpleCNN:
    """The store's trained CNN; trained (and saved with a summary in the manifest) when not there yet."""
    from compute.cohort.reference import gene_window

    path = store.path / MODEL_FILE
    if path.is_file():
        log(f"reusing the trained CNN in {path}")
        return load_cnn(path, settings.device)
    genes = cohort.genes.set_index("gene_id").loc[gene_ids]
    window = settings.config.window
    tokens = np.empty((len(gene_ids), window), dtype=np.uint8)
    for i, (chrom, tss) in enumerate(zip(genes["chrom"], genes["tss"], strict=True)):
        start0, end0 = gene_window(int(tss), window)
        tokens[i] = cohort.reference.tokens(chrom, start0, end0)
    targets = cohort.expression.loc[gene_ids].to_numpy(float).mean(axis=1)
    labels = split.loc[gene_ids].to_numpy()
    log(
        f"training the CNN on {int((labels == 'train').sum())} genes "
        f"({int((labels == 'validation').sum())} validation, {int((labels == 'test').sum())} test)"
    )
    started = time.perf_counter()
    trained = train_cnn(
        tokens, targets, labels == "train", labels == "validation", settings.config, settings.training,
        device=settings.device, log=log,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    with strict_fp32(settings.device):
        ref_scores = score_tokens(trained.model, tokens, batch_size=settings.batch_size)
    summary: dict[str, Any] = {
        "best_epoch": trained.best_epoch,
        "epochs_run": len(trained.history),
        "train_seconds": seconds,
    }
    for name in SPLITS:
        chosen = labels == name
        summary[f"n_{name}"] = int(chosen.sum())
        summary[f"r_{name}"] = _pearson(ref_scores[chosen], targets[chosen])
    _save_atomic(store.path / HISTORY_FILE, lambda tmp: trained.history.to_parquet(tmp, index=False))
    store.update_manifest(cnn=summary)
    _save_atomic(path, lambda tmp: save_cnn(trained.model, tmp))  # last: its presence means "trained"
    log(
        f"trained in {seconds:.1f} s (best epoch {trained.best_epoch}); reference score vs mean expression: "
        + ", ".join(f"{n} r = {summary[f'r_{n}']:.3f}" for n in SPLITS)
    )
    return trained.model


# --------------------------------------------------------------------------- the run


def cnn_manifest(files: CohortFiles, settings: CNNSettings, gene_ids: list[str]) -> dict[str, Any]:
    from compute.store.inputs import input_record

    inputs = {name: input_record(getattr(files, name)) for name in ("fasta", "vcf", "genes", "expression")
              if getattr(files, name) is not None}  # genes: none when the expression BED gave the positions
    genes_digest = hashlib.sha256(json.dumps(sorted(gene_ids)).encode()).hexdigest()
    return {
        "dataset": "cnn-baseline",
        "description": (
            f"Simple CNN baseline ({settings.config.kernels} kernels x {settings.config.kernel_width} bp, "
            f"{settings.config.window:,} bp reference windows)"
        ),
        "inputs": inputs,
        "model": {"kind": "simple-cnn", **asdict(settings.config), "training": asdict(settings.training)},
        "settings": {
            "window": settings.config.window,
            "split": asdict(settings.split),
            "stats": asdict(settings.stats),
            "gradients": settings.gradients,
            # What the trained model depends on: a rerun into this store must not mix models.
            "genes_sha256": genes_digest,  # the genes the CNN is trained and split over
            "trained_on": {name: inputs[name]["sha256"] for name in ("fasta", "expression")},
            "target": "mean observed expression across people",
        },
        "packages": package_versions(),
        "genes": list(gene_ids),
        "has_people": True,
        "has_null_draws": True,
        "has_all_variants": True,
    }


def run_cnn_baseline(
    files: CohortFiles,
    settings: CNNSettings,
    out: str | Path,
    genes: list[str] | None = None,
    progress: bool = True,
) -> ResultsStore:
    """Validate the cohort, train the CNN (or reuse the store's), score every gene not yet
    in the store at `out`, then finalize it. A gene that fails is recorded and the rest go on."""
    from tqdm.auto import tqdm

    from compute.engine.model import pick_device
    from compute.stats import cohort_statistics

    settings.config.check()
    # "auto" becomes cuda or cpu here; a bad --device fails before any work.
    settings = replace(settings, device=str(pick_device(settings.device)))
    cohort = files.load(settings.config.window)
    cohort.refuse_missing_expression("cnn-baseline")  # its target is each gene's mean over every person
    gene_ids = select_genes(cohort, genes, files.genes_source)
    split = split_genes(gene_ids, settings.split)

    def log(message: str) -> None:
        if progress:
            print(message, file=sys.stderr, flush=True)

    store = ResultsStore.create(out, cnn_manifest(files, settings, gene_ids), same_run)
    model = trained_model(store, cohort, gene_ids, split, settings, log)
    table = cohort.genes.set_index("gene_id")
    todo = [g for g in gene_ids if g not in store.done_genes()]
    bar = tqdm(total=len(gene_ids), initial=len(gene_ids) - len(todo), unit="gene", disable=not progress)
    for gene_id in todo:
        started = time.perf_counter()
        try:
            outputs = gene_outputs(
                model, cohort, table.loc[gene_id], settings.batch_size, settings.gradients
            )
            result = assemble_gene(gene_id, outputs, cohort.observed(gene_id), cohort.people, settings.stats)
        except Exception as err:  # one gene's failure is recorded; the others go on
            store.write_failure(gene_id, format_error(err))
            bar.set_postfix_str(f"{gene_id} failed")
        else:
            gene_row = {**result.gene, "split": split.loc[gene_id]}
            store.write_gene(
                gene_id, gene=gene_row, people=result.people, variants=result.variants,
                null=result.null, genotypes=result.genotypes,
            )  # fmt: skip
            bar.set_postfix_str(f"{gene_id} {time.perf_counter() - started:.2f}s")
        bar.update(1)
    bar.close()
    store.finalize(lambda frame: cohort_statistics(frame, convention=settings.stats.convention))
    return store
