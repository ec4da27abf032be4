"""The per-gene statistics of a run, spread over processes.

Two uses, one mechanism (`StatisticsPool`: `assemble_gene` in worker processes, a bounded
number of genes in flight so memory stays flat in the number of genes):
- `precompute --stats-workers N`: while the model scores the next gene, the statistics of
  the previous ones (the elastic net takes most of it) run on other cores;
- `python -m compute stats STORE --per-gene --workers N`: every gene's statistics again
  from what the store holds (person scores, ISM, gradients, packed genotypes), no model.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from compute.cohort.haplotypes import WindowVariants
from compute.errors import InputError
from compute.run.gene import GeneResult, ModelOutputs, assemble_gene, format_error
from compute.run.settings import StatsOptions, read_section
from compute.store import ResultsStore

Outcome = tuple[str, GeneResult | None, str | None]


class StatisticsPool:
    """`assemble_gene` in `workers` spawned processes (no torch, no inherited threads), results
    in submission order; at most `2 * workers` genes wait, so memory does not grow with genes."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._pending: deque[tuple[str, Future]] = deque()

    def submit(self, gene_id: str, outputs: ModelOutputs, observed, people, options: StatsOptions,
               covariates=None, observed_raw=None):  # fmt: skip
        future = self._pool.submit(assemble_gene, gene_id, outputs, observed, people, options, covariates,
                                   observed_raw)  # fmt: skip
        self._pending.append((gene_id, future))

    def ready(self) -> Iterator[Outcome]:
        """Finished genes at the front of the queue, waiting only while the queue is full."""
        while self._pending and (len(self._pending) > 2 * self.workers or self._pending[0][1].done()):
            yield self._take()

    def drain(self) -> Iterator[Outcome]:
        while self._pending:
            yield self._take()

    def _take(self) -> Outcome:
        gene_id, future = self._pending.popleft()
        try:
            return gene_id, future.result(), None
        except Exception as err:  # one gene's failure is recorded; the others go on
            return gene_id, None, format_error(err)

    def __enter__(self) -> StatisticsPool:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)


def stored_outputs(store: ResultsStore, gene_id: str) -> tuple[ModelOutputs, np.ndarray, list[str]]:
    """What `assemble_gene` takes, rebuilt from a store's rows of one gene."""
    gene = store.genes().set_index("gene_id").loc[gene_id]
    people = store.people(gene_id)
    variants = store.variants(gene_id)
    genotypes = store.genotypes(gene_id)
    if genotypes is None:
        raise InputError(f"{store.path}: gene {gene_id} has no genotypes (python -m compute genotypes STORE)")
    if genotypes.variant_ids != list(variants["variant_id"]):
        raise InputError(f"{store.path}: gene {gene_id}: genotypes and variants list other SNVs")
    order = pd.Index(genotypes.person_ids).get_indexer(people["person_id"])
    alleles = genotypes.alleles[order]
    window = WindowVariants(
        variants=variants[["variant_id", "chrom", "pos", "ref", "alt"]].reset_index(drop=True),
        alleles=alleles, codes=alleles, allele_tokens=np.zeros((len(variants), 2), np.uint8),
        people=list(people["person_id"]),
    )  # fmt: skip
    outputs = ModelOutputs(
        gene=gene,
        window=window,
        hap_scores=people[["hap1", "hap2"]].to_numpy(float),
        ref_score=float(gene["ref_score"]),
        ism=variants["ism"].to_numpy(float),
        grad_x_input=variants["grad_x_input"].to_numpy(float),
    )
    return outputs, people["observed"].to_numpy(float), list(people["person_id"])


def recompute_gene_statistics(path: str | Path, workers: int = 1, progress: bool = True) -> int:
    """Every gene's statistics again from the store (genotypes needed), then the cross-gene ones.

    Columns the statistics do not make (a fine-tuning store's gene_split, an all-track r) are
    kept from the old rows. Returns the number of genes."""
    from compute.stats import cohort_statistics

    store = ResultsStore(path)
    if (store.manifest.get("inputs") or {}).get("covariates"):
        raise InputError(
            f"{store.path}: its expression was residualised on covariates, which the per-gene statistics "
            "from stored rows do not hold; run precompute into a new store instead"
        )
    if not store.has_genotypes() or not (store.path / "parts").is_dir():
        raise InputError(
            f"{store.path}: per-gene statistics need the store's parts and genotypes "
            "(a store made by precompute; `python -m compute genotypes STORE` adds genotypes)"
        )
    options = read_section(StatsOptions, (store.manifest.get("settings") or {}).get("stats") or {})
    old = store.genes().set_index("gene_id")
    gene_ids = list(old.index)
    bar = tqdm(total=len(gene_ids), unit="gene", disable=not progress)

    def write(gene_id: str, result: GeneResult | None, error: str | None) -> None:
        if error is not None:
            raise InputError(f"gene {gene_id}: {error}")
        extra = {c: old.at[gene_id, c] for c in old.columns if c not in result.gene}
        previous = store.people(gene_id)
        people = result.people.assign(**{c: previous[c].to_numpy() for c in previous.columns
                                         if c not in result.people and c != "gene_id"})  # fmt: skip
        store.write_gene(gene_id, gene={**result.gene, **extra}, people=people, variants=result.variants,
                         null=result.null, genotypes=result.genotypes)  # fmt: skip
        bar.update(1)

    with StatisticsPool(max(workers, 1)) as pool:
        for gene_id in gene_ids:
            outputs, observed, people = stored_outputs(store, gene_id)
            pool.submit(gene_id, outputs, observed, people, options)
            for outcome in pool.ready():
                write(*outcome)
        for outcome in pool.drain():
            write(*outcome)
    bar.close()
    convention = options.convention
    store.finalize(lambda frame: cohort_statistics(frame, convention=convention))
    return len(gene_ids)
