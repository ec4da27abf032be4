"""Genes of a store's cohort computed on demand (the dashboard's "Compute this gene"), and a
whole precompute of that cohort started again, both with the inputs, model and options its
manifest records: the same numbers `precompute` gives for those genes.

An on-demand gene lands in parts/ like any gene of a running precompute (readers see it at
once, its cross-gene columns provisional); then, unless a precompute is writing the store (it
finalizes when it ends), the store is finalized again: its tables hold every gene computed, with
the cross-gene statistics over all of them, as one precompute of those genes would leave them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compute.run.gene import STAGES, format_error
from compute.run.settings import CohortFiles, RunSettings, from_manifest
from compute.store import ResultsStore, safe_gene_id
from compute.store.inputs import check_inputs
from compute.store.progress import run_active

ProgressHook = Callable[[dict[str, Any]], None]
# Share of one gene's time each step takes, measured on the demo (2 CPU cores): for the
# progress bar and its ETA before the gene's own times are known.
STAGE_SHARE = {"haplotypes": 0.02, "forwards": 0.35, "ISM": 0.45, "gradients": 0.15, "statistics": 0.03}


def settings_from_manifest(store: ResultsStore, device: str = "auto", batch_size: int = 4,
                           check: bool = True) -> tuple[CohortFiles, RunSettings]:  # fmt: skip
    """The cohort files and run settings a store's manifest records; its inputs are checked
    against their recorded sha256 first (check=True) with an InputError naming each change."""
    manifest = store.manifest
    paths = check_inputs(store, full=check)
    settings = from_manifest(manifest, store.path / "manifest.json", store.resolve, device, batch_size)
    files = CohortFiles(
        *(str(paths[n]) if n in paths else None for n in ("fasta", "vcf", "genes", "expression")),
        missing=str(manifest.get("missing_genotypes", "error")),
        ref_mismatch=str(manifest.get("ref_mismatch", "skip")),  # older stores: none was skipped
        sample_map=str(paths["sample_map"]) if "sample_map" in paths else None,
        covariates=str(paths["covariates"]) if "covariates" in paths else None,
    )
    return files, settings


def compute_genes(
    store_path: str | Path,
    gene_ids: Sequence[str],
    device: str = "auto",
    batch_size: int = 4,
    progress: ProgressHook | None = None,
) -> dict[str, str | None]:
    """Compute genes of the store's cohort into its parts/ (no finalize); returns gene -> error
    (None when it landed). progress gets {gene, stage, fraction, elapsed_s, eta_s} as steps start."""
    from compute.run.gene import GeneWorker
    from compute.run.pipeline import select_genes

    store = ResultsStore(store_path)
    files, settings = settings_from_manifest(store, device, batch_size)
    for gene_id in gene_ids:
        safe_gene_id(gene_id)
    report = progress or (lambda _: None)
    report({"gene": None, "stage": "loading the model and the cohort", "fraction": 0.0})
    # only these genes' windows are read: the run that made the store validated every window of
    # these files, which settings_from_manifest found unchanged
    cohort = files.load(settings.window, settings.stats.normalize, only_genes=gene_ids)
    select_genes(cohort, gene_ids, files.genes_source)
    worker = GeneWorker(files, settings, cohort=cohort)
    outcome: dict[str, str | None] = {}
    for k, gene_id in enumerate(gene_ids):
        started = time.perf_counter()

        def stage(name: str, k: int = k, gene_id: str = gene_id, started: float = started) -> None:
            done = sum(STAGE_SHARE[s] for s in STAGES[: STAGES.index(name)])
            fraction = (k + done) / len(gene_ids)
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (1 - done) if done > 0 else None
            report({"gene": gene_id, "stage": name, "fraction": fraction, "elapsed_s": elapsed, "eta_s": eta})

        try:
            result = worker.run(gene_id, stage)
        except Exception as err:  # recorded like a precompute's failure; the next gene goes on
            store.write_failure(gene_id, format_error(err))
            outcome[gene_id] = format_error(err)
            continue
        store.write_gene(
            gene_id, gene=result.gene, people=result.people, variants=result.variants,
            null=result.null, genotypes=result.genotypes,
        )  # fmt: skip
        outcome[gene_id] = None
    landed = [g for g, error in outcome.items() if error is None]
    if landed and not run_active(store.path):  # a running precompute finalizes when it ends
        from compute.run.pipeline import finalize

        report({"gene": None, "stage": "finalizing the store", "fraction": 1.0})
        planned = store.manifest.get("genes") or []
        store.update_manifest(genes=list(dict.fromkeys([*planned, *landed])))
        finalize(store)
    report({"gene": None, "stage": "done", "fraction": 1.0})
    return outcome
