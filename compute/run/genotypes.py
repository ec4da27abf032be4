"""Add the genotypes table to a finished store from the cohort VCF its manifest records.

Stores computed before genotypes were stored with each gene (and the demo store, whose
recipe once wrote its own table) get the same packed table as a new run would write:
`python -m compute genotypes STORE`. The VCF must be the one the store was made from
(its sha256 is checked), and each gene's SNVs must be the ones in the variants table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from compute.cohort.haplotypes import vcf_for, window_variants
from compute.errors import InputError
from compute.store import GenotypesWriter, ResultsStore
from compute.store.genotypes import genotype_row
from compute.store.inputs import manifest_input


def add_genotypes(path: str | Path, progress: bool = True) -> int:
    """Write STORE/genotypes.parquet for every gene of a finalized store; returns the gene count."""
    store = ResultsStore(path)
    if not store.has_table("genes") or not store.has_table("variants") or not store.has_table("people"):
        raise InputError(f"{store.path}: needs a finalized store with people and variants tables")
    vcf = manifest_input(store, "vcf")
    genes = store.genes().sort_values("gene_id")
    with GenotypesWriter(store.path) as writer:
        for gene in tqdm(list(genes.itertuples()), unit="gene", disable=not progress):
            people = list(store.people(gene.gene_id)["person_id"])
            variants = store.variants(gene.gene_id)
            ids = list(variants["variant_id"])
            if ids:
                start0, end0 = int(variants["pos"].min()) - 1, int(variants["pos"].max())
                chrom_vcf = vcf_for(vcf, str(gene.chrom))  # the file, or this chromosome's
                window = window_variants(chrom_vcf, gene.chrom, start0, end0, people, missing="reference")
                found = {v: k for k, v in enumerate(window.variants["variant_id"])}
                lost = [v for v in ids if v not in found]
                if lost:
                    raise InputError(f"{vcf}: gene {gene.gene_id}: store SNVs not in the VCF: {lost[:5]}")
                alleles = window.alleles[:, :, [found[v] for v in ids]]
            else:
                alleles = np.zeros((len(people), 2, 0), np.uint8)
            writer.add(genotype_row(gene.gene_id, people, ids, alleles))
    return len(genes)
