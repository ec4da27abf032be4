"""The demo cohort recipe: simulated people on real public chr22 sequence (DESIGN §8).

`build_demo_inputs` writes a cohort in the standard input formats of DESIGN §3,
so the pipeline reads it like any user cohort:

    chr22.fa.gz (+ .fai, .gzi)  GRCh37 chr22, real bases on 20,000,001-21,000,000, N elsewhere
    cohort.vcf.gz (+ .tbi)      phased genotypes of DEMO0001.. (msprime), REF from the FASTA
    genes.tsv                   gene_id, gene_name, chrom, tss, strand (RefSeq, org.Hs.eg.db)
    expression.tsv              genes x people, first column gene_id
    truth.tsv                   the causal SNVs, effects, noise and heritability per gene
    demo.json                   the recipe's parameters and counts

Everything is determined by (n_people, seed, start, end, settings).
`compute.demo.build.build_demo` runs these inputs through the small demo model
and the precompute into a results store (`python -m compute demo build`).
"""

from __future__ import annotations

import json
from pathlib import Path

import msprime
import numpy as np
import tskit

from compute.demo.expression import SCENARIOS, ExpressionSettings, simulate_expression
from compute.demo.genes import demo_genes, write_genes
from compute.demo.genotypes import (
    MUTATION_RATE,
    OOA_PARAMETERS,
    SAMPLE_POPULATION,
    read_dbsnp,
    read_genetic_map,
    simulate_genotypes,
    write_vcf,
)
from compute.demo.reference import CHROM, SLICE_END, SLICE_START, read_slice, require_tool, write_reference
from compute.errors import InputError

EXTERNAL = Path(__file__).resolve().parents[2] / "data" / "external"
SOURCES = {
    "fasta": "22_20-21M.fa",
    "dbsnp": "22_20-21M.snp",
    "exons": "hg19_RefSeq_exon.txt.gz",
    "names": "org.Hs.eg.sqlite",
    "genetic_maps": "shapeit4/genetic_maps.b37.tar.gz",
}
DEFAULT_SEED = 2023


def build_demo_inputs(
    out_dir: str | Path,
    n_people: int = 839,
    seed: int = DEFAULT_SEED,
    start: int = SLICE_START,
    end: int = SLICE_END,
    external: str | Path = EXTERNAL,
    settings: ExpressionSettings | None = None,
) -> dict[str, Path]:
    """Simulate the demo cohort into out_dir; return the paths of what it wrote.

    Keys: fasta, vcf, genes, expression, truth, summary. People are simulated
    over chr22:start-end (1-based, inclusive, inside the slice) and genes are
    those with a TSS there; the FASTA always holds the whole slice.
    """
    settings = settings or ExpressionSettings()
    external = Path(external)
    sources = {key: external / name for key, name in SOURCES.items()}
    for key, path in sources.items():
        if not path.exists():
            raise InputError(f"{path}: missing ({key} for the demo): run `bash data/fetch_debian_data.sh`")
    if not 2 <= n_people <= 9999:
        raise InputError(f"--people: expected 2 to 9999 people, found {n_people}")
    if not SLICE_START <= start < end <= SLICE_END:
        raise InputError(
            f"demo region: expected {SLICE_START:,} <= start < end <= {SLICE_END:,}, found {start:,}-{end:,}"
        )
    require_tool("bgzip")
    require_tool("tabix")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    genotype_seed, expression_seed = np.random.SeedSequence(seed).spawn(2)
    seq = read_slice(sources["fasta"])
    genes = demo_genes(sources["exons"], sources["names"], start, end, chrom=CHROM)
    if genes.table.empty:
        raise InputError(f"demo region {CHROM}:{start}-{end}: expected genes with a TSS there, found none")

    paths = {"fasta": write_reference(seq, out / "chr22.fa.gz")}
    region = seq[start - SLICE_START : end - SLICE_START + 1]
    genotypes = simulate_genotypes(
        region,
        start,
        read_genetic_map(sources["genetic_maps"], CHROM),
        read_dbsnp(sources["dbsnp"], SLICE_START),
        n_people,
        seed=int(genotype_seed.generate_state(1)[0]),
    )
    samples = [f"DEMO{i + 1:04d}" for i in range(n_people)]
    header = [
        f"source=compute.demo (msprime {msprime.__version__}, Gutenkunst 2009 out-of-Africa, "
        f"{SAMPLE_POPULATION} sample, seed {seed})",
        "reference=chr22.fa.gz (GRCh37)",
    ]
    paths["vcf"] = write_vcf(genotypes, samples, out / "cohort.vcf.gz", header)
    paths["genes"] = write_genes(genes.table, out / "genes.tsv")

    expression, truth = simulate_expression(
        genes.table, genotypes, samples, np.random.default_rng(expression_seed), settings
    )
    paths["expression"] = out / "expression.tsv"
    expression.to_csv(paths["expression"], sep="\t", index=False, float_format="%.5f")
    paths["truth"] = out / "truth.tsv"
    truth.to_csv(paths["truth"], sep="\t", index=False, float_format="%.6g")

    sites = genotypes.sites
    gene_scenarios = truth.drop_duplicates("gene_id")["scenario"]
    summary = {
        "kind": "demo",
        "n_people": n_people,
        "seed": seed,
        "region": f"{CHROM}:{start}-{end}",
        "demography": {"model": "Gutenkunst et al. 2009 out-of-Africa (YRI, CEU, CHB)",
                       "sampled": SAMPLE_POPULATION, "parameters": OOA_PARAMETERS},
        "mutation": {"model": "JC69", "rate_per_base_per_generation": MUTATION_RATE,
                     "zero_on": "N bases of the reference"},
        "recombination_map": f"{SOURCES['genetic_maps']}: chr{CHROM}.b37.gmap.gz",
        "n_sites": len(sites),
        "n_multiallelic": int((sites["n_alleles"] > 2).sum()),
        "n_dbsnp_ids": int(sites["dbsnp"].sum()),
        "n_genes": len(genes.table),
        "n_genes_discontinued_entrez": genes.n_discontinued,
        "scenarios": {s: int((gene_scenarios == s).sum()) for s in SCENARIOS},
        "versions": {"msprime": msprime.__version__, "tskit": tskit.__version__},
        "files": {key: path.name for key, path in paths.items()},
    }  # fmt: skip
    paths["summary"] = out / "demo.json"
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    return paths
