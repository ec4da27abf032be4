"""The demo cohort scored by a model other than the demo's Enformer (`python -m compute demo
alphagenome|borzoi OUT`), so that the dashboard's models view compares stores of one cohort out of the
box: the same people and genes as the demo store (data/demo), a small random model, its gene readout
over each gene's RefSeq exons. Beside its tables:

    inputs/     the demo store's inputs, copied, and genes.gtf: the RefSeq exons of the demo's genes
                (the demo's genes come from that annotation, compute/demo/genes.py)
    model/      the model's weights, or the recipe that rebuilds them (compute/engine/models.py
                save_recipe) where they are too large to ship
    truth.parquet, motifs.parquet   as in the demo store

The manifest says `dataset: demo`, `demo_model: true` and `model_note`. Everything is determined by
the demo store it reads: the same demo gives the same weights and numbers.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from compute.demo import EXTERNAL, SOURCES
from compute.demo.build import inputs_inside
from compute.demo.genes import refseq_tss
from compute.errors import InputError
from compute.store import ResultsStore, write_parquet_atomic

DEMO_STORE = Path(__file__).resolve().parents[2] / "data" / "demo"
INPUT_FILES = ("chr22.fa.gz", "chr22.fa.gz.fai", "chr22.fa.gz.gzi", "cohort.vcf.gz", "cohort.vcf.gz.tbi",
               "expression.tsv", "genes.tsv", "truth.tsv", "demo.json")  # fmt: skip


def write_demo_gtf(genes_tsv: Path, exon_path: Path, out: Path, chrom: str = "22") -> Path:
    """A GTF of the demo's genes: one gene record (its RefSeq span, so that the TSS is the genes
    table's) and every RefSeq exon of the gene, by Entrez ID. The demo's genes TSV names genes by
    Ensembl ID where there is one: the Entrez ID is found again by the TSS and strand."""
    genes = pd.read_csv(genes_tsv, sep="\t", dtype={"gene_id": str, "chrom": str})
    exons = pd.read_csv(exon_path, sep="\t", dtype={"GeneID": str, "Chr": str, "Strand": str})
    exons = exons[exons["Chr"] == f"chr{chrom}"]
    tss = refseq_tss(exon_path, chrom=f"chr{chrom}").set_index(["tss", "strand"])["entrez_id"]
    lines = []
    for gene in genes.itertuples():
        entrez = tss.get((int(gene.tss), gene.strand))
        if entrez is None or not isinstance(entrez, str):  # none, or several genes on one TSS
            raise InputError(f"{exon_path}: expected one RefSeq gene with the TSS of {gene.gene_id}")
        rows = exons[exons["GeneID"] == entrez].drop_duplicates(["Start", "End"]).sort_values("Start")
        attrs = f'gene_id "{gene.gene_id}"; gene_name "{gene.gene_name}";'
        start, end = int(rows["Start"].min()), int(rows["End"].max())
        lines.append(f"{chrom}\tRefSeq\tgene\t{start}\t{end}\t.\t{gene.strand}\t.\t{attrs}")
        lines += [f"{chrom}\tRefSeq\texon\t{a}\t{b}\t.\t{gene.strand}\t.\t{attrs}"
                  for a, b in zip(rows["Start"], rows["End"], strict=True)]  # fmt: skip
    out.write_text("\n".join(lines) + "\n")
    return out


def build_scored_demo(
    out: str | Path,
    demo: str | Path,
    *,
    model: str,
    window: int,
    save_model: Callable[[int, Path], Path],
    demo_config: dict[str, Any],
    note: str,
    head: str | None = None,
    genes: Sequence[str] | None = None,
    progress: bool = True,
    external: str | Path = EXTERNAL,
) -> ResultsStore:
    """Score the demo store's cohort (its inputs, its computed genes, or `genes` among them) into a new
    store at `out` with the model `save_model(seed, out / "model")` saves (weights or a recipe; the seed
    is the demo's), on `window` bp, its own readout (or `head`'s). demo_config (the model's
    hyper-parameters) is recorded with the window and the seed as the manifest's model.demo_config."""
    from compute.analyses.motifs import scan_store
    from compute.run.pipeline import precompute
    from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions

    out, demo = Path(out), ResultsStore(demo)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: expected a new or empty directory for the demo store, found one in use")
    manifest = demo.manifest
    if not manifest.get("demo_model"):
        raise InputError(f"{demo.path}: expected the demo store (python -m compute demo build), found other")
    chosen = list(genes) if genes else list(manifest["genes"])
    unknown = sorted(set(chosen) - set(manifest["genes"]))
    if unknown:
        raise InputError(f"{demo.path}: expected gene IDs computed in the demo store, found {unknown}")
    inputs = out / "inputs"
    inputs.mkdir(parents=True)
    for name in INPUT_FILES:
        shutil.copy2(demo.path / "inputs" / name, inputs / name)
    gtf = write_demo_gtf(inputs / "genes.tsv", Path(external) / SOURCES["exons"], inputs / "genes.gtf")

    seed = manifest["recipe"]["seed"]
    weights = save_model(seed, out / "model")
    files = CohortFiles(fasta=str(inputs / "chr22.fa.gz"), vcf=str(inputs / "cohort.vcf.gz"), genes=str(gtf),
                        expression=str(inputs / "expression.tsv"))  # fmt: skip
    settings = RunSettings(
        window=window,
        model=ModelOptions(weights=str(weights), model=model, head=head, batch_size=16, device="cpu"),
        stats=StatsOptions(seed=seed),
    )
    store = precompute(files, settings, out, genes=chosen, progress=progress)
    write_parquet_atomic(out / "truth.parquet", pd.read_parquet(demo.path / "truth.parquet"))
    recorded = dict(store.manifest.get("model", {}))
    recorded.update(weights="model", demo_config={**demo_config, "window": window, "seed": seed})
    store.update_manifest(
        dataset="demo",
        demo_model=True,
        model_note=note,
        description=f"Demo: {manifest['recipe']['n_people']} simulated people on real GRCh37 chr22 20-21 Mb; "
        f"{note}",
        held_back=manifest.get("held_back", []),
        inputs=inputs_inside(store),
        model=recorded,
        recipe=manifest["recipe"],
        truth="truth.parquet",
    )
    scan_store(store.path)  # the motifs its drivers change (ISM logos are Enformer's only)
    return store
