"""Evaluate a fine-tuned model on held-out people, into an ordinary results store.

Every gene of the split (training genes and held-out genes) is scored on the
held-out test people with the fine-tuned model: haplotype scores, ISM and
gradient x input, and the statistics of DESIGN §5 (`compute.run.gene.assemble_gene`),
so the dashboard shows the store like any other. Next to r, each gene row gets:

- `gene_split`: "train" (the model saw its training people) or "test" (a held-out gene);
- `r_pretrained`: r of the starting model on the same people;
- `predixcan_r`: the PrediXcan-style elastic net fitted on the training and
  validation people's dosages, r on the same test people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from compute.analyses.finetune.data import GeneData, Split, gene_data, people_index
from compute.cohort.haplotypes import WindowVariants
from compute.cohort.inputs import Cohort
from compute.engine.model import Model, ModelSpec, score_tokens
from compute.stats.baselines import elastic_net_heldout_r
from compute.stats.correlation import pearson
from compute.store import ResultsStore


def haplotype_scores(model: Model, spec: ModelSpec, data: GeneData, people_idx: np.ndarray,
                     batch_size: int = 8) -> np.ndarray:  # fmt: skip
    """(n, 2) scores of the people's haplotypes; each distinct haplotype is scored once."""
    haps = data.haplotype[people_idx]
    rows, inverse = np.unique(haps, return_inverse=True)
    scores = score_tokens(model, data.tokens(rows), spec, batch_size=batch_size)
    return scores[inverse.reshape(haps.shape)]


def people_subset(wv: WindowVariants, idx: np.ndarray) -> WindowVariants:
    """The same SNVs for a subset of the people (allele frequencies recomputed by the statistics)."""
    return WindowVariants(
        variants=wv.variants, alleles=wv.alleles[idx], codes=wv.codes[idx], allele_tokens=wv.allele_tokens,
        people=[wv.people[i] for i in idx], counts=wv.counts,
    )  # fmt: skip


def evaluate_gene(
    cohort: Cohort,
    split: Split,
    gene_id: str,
    tuned: tuple[Model, ModelSpec],
    pretrained: tuple[Model, ModelSpec],
    stats,
    gradients: bool = True,
):
    """One gene's GeneResult on the test people, with the comparison columns in its gene row."""
    from compute.engine.attribution import grad_x_input, ism
    from compute.run.gene import ModelOutputs, assemble_gene
    from compute.run.settings import StatsOptions

    model, spec = tuned
    train_idx = people_index(cohort, split.train_people)
    fit_idx = people_index(cohort, split.train_people + split.validation_people)
    test_idx = people_index(cohort, split.test_people)
    data = gene_data(cohort, gene_id, train_idx)
    offsets, alt = data.offsets(), data.alt_tokens()
    window = people_subset(data.variants, test_idx)
    outputs = ModelOutputs(
        gene=cohort.genes.set_index("gene_id").loc[gene_id],
        window=window,
        hap_scores=haplotype_scores(model, spec, data, test_idx),
        ref_score=float(score_tokens(model, data.ref_tokens[None], spec)[0]),
        ism=ism(model, spec, data.ref_tokens, offsets, alt),
        grad_x_input=grad_x_input(model, spec, data.ref_tokens, offsets, alt)
        if gradients
        else np.full(len(offsets), np.nan),
    )
    observed = data.expression[test_idx]
    options = StatsOptions(null_draws=stats.null_draws, seed=stats.seed, convention=stats.convention,
                           predixcan=False)  # fmt: skip
    result = assemble_gene(gene_id, outputs, observed, split.test_people, options)
    base = haplotype_scores(*pretrained, data, test_idx).mean(axis=1)
    dosage = data.variants.dosage
    result.gene.update(
        gene_split="train" if gene_id in split.train_genes else "test",
        r_pretrained=pearson(base, observed)[0],
        predixcan_r=elastic_net_heldout_r(
            dosage[fit_idx], data.expression[fit_idx], dosage[test_idx], observed, seed=stats.seed
        )
        if stats.predixcan
        else float("nan"),
    )
    return result


def summary_table(genes: pd.DataFrame) -> pd.DataFrame:
    """Mean r per gene split: fine-tuned, pretrained, PrediXcan-style, all on the test people."""
    rows = []
    for part, frame in genes.groupby("gene_split", sort=True):
        rows.append(
            {
                "gene_split": part,
                "genes": len(frame),
                "r_finetuned": frame["r"].mean(),
                "r_pretrained": frame["r_pretrained"].mean(),
                "r_predixcan": frame["predixcan_r"].mean(),
            }
        )
    return pd.DataFrame(rows)


def evaluate(
    cohort: Cohort,
    files: dict[str, str],
    split: Split,
    tuned: tuple[Model, ModelSpec],
    pretrained: tuple[Model, ModelSpec],
    out: str | Path,
    *,
    model_dir: str,
    stats=None,
    gradients: bool = True,
    genes: Sequence[str] | None = None,
    progress: bool = True,
) -> ResultsStore:
    """Write the evaluation store at `out` (resumable per gene, like precompute)."""
    from tqdm.auto import tqdm

    from compute.run.pipeline import package_versions
    from compute.run.settings import StatsOptions, same_run
    from compute.stats import cohort_statistics
    from compute.store.inputs import input_record

    stats = StatsOptions() if stats is None else stats
    gene_ids = list(genes) if genes is not None else split.train_genes + split.test_genes
    model, spec = tuned
    manifest = {
        "dataset": "finetuned",
        "description": f"fine-tuned model {Path(model_dir).name}: held-out people ({len(split.test_people)})",
        "inputs": {k: input_record(v) for k, v in files.items()},
        "model": {
            "weights": str(model_dir),
            "track": spec.track,
            "head": spec.head,
            "summary": spec.summary,
            "pretrained": pretrained[0].source,
        },  # fmt: skip
        "settings": {
            "window": cohort.window,
            "stats": asdict(stats),
            "gradients": gradients,
            "people": "test",
        },  # fmt: skip
        "split": asdict(split),
        "packages": package_versions(),
        "genes": gene_ids,
        "has_people": True,
        "has_null_draws": True,
        "has_all_variants": True,
    }
    store = ResultsStore.create(out, manifest, same_run)
    todo = [g for g in gene_ids if g not in store.done_genes()]
    bar = tqdm(total=len(gene_ids), initial=len(gene_ids) - len(todo), unit="gene", disable=not progress)
    for gene_id in todo:
        result = evaluate_gene(cohort, split, gene_id, tuned, pretrained, stats, gradients)
        store.write_gene(gene_id, gene=result.gene, people=result.people, variants=result.variants,
                         null=result.null, genotypes=result.genotypes)  # fmt: skip
        bar.update(1)
    bar.close()
    store.finalize(lambda frame: cohort_statistics(frame, convention=stats.convention))
    table = summary_table(store.genes())
    store.update_manifest(finetune_summary=table.to_dict(orient="records"))
    return store
