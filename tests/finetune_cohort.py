"""A seeded cohort on the real chr22 sequence with planted causal SNVs, for fine-tuning tests.

The reference is the start of the real GRCh37 chr22:20,000,001-21,000,000 slice
(data/external/22_20-21M.fa), written as record `22` whose position 1 is
chr22:20,000,001. Genes sit every `spacing` bp; each window gets `n_snvs` SNVs
(ALT a random other base) with LD blocks from compute.stats.simulated_cohort. Genes
with cis signal have one or two causal SNVs near the TSS (MAF >= 0.2); their
expression is sum_c beta_c g_c plus noise, scaled to a chosen heritability.
The other genes' expression is noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compute.stats.simulated_cohort import simulate_haplotypes
from tests.cohort_files import write_fasta, write_genes, write_vcf

SLICE_NAME = "22:20000001-21000000"


@dataclass
class PlantedCohort:
    fasta: Path
    vcf: Path
    genes: Path
    expression: Path
    causal: dict[str, list[str]]  # gene_id -> variant_ids of its causal SNVs (empty: no cis signal)
    window: int
    dosage: dict[str, pd.DataFrame]  # gene_id -> people x variant_ids ALT dosage (the ground truth's LD)

    def tags_causal(self, gene_id: str, variant_id: str | None, min_r2: float = 0.8) -> bool:
        """The SNV is a causal SNV of the gene or in strong LD (r² >= min_r2) with one: from
        genotypes alone no model can tell such partners apart."""
        if variant_id is None or not self.causal[gene_id]:
            return False
        dosage = self.dosage[gene_id]
        return any(
            v == variant_id or np.corrcoef(dosage[v], dosage[variant_id])[0, 1] ** 2 >= min_r2
            for v in self.causal[gene_id]
        )


def read_real_sequence(external: Path, length: int) -> str:
    from pyfaidx import Fasta

    fasta = Fasta(str(external / "22_20-21M.fa"))
    return str(fasta[SLICE_NAME][:length]).upper()


def planted_cohort(
    tmp_path: Path,
    external: Path,
    *,
    n_people: int = 300,
    n_genes: int = 10,
    n_cis: int = 8,
    n_snvs: int = 8,
    window: int = 2048,
    spacing: int = 4096,
    causal_radius: int = 400,
    heritability: float = 0.6,
    seed: int = 7,
) -> PlantedCohort:
    rng = np.random.default_rng(seed)
    seq = read_real_sequence(external, spacing * (n_genes + 1))
    samples = [f"S{i:03d}" for i in range(n_people)]
    rows, genes, causal, expression, dosages = [], [], {}, {}, {}
    for k in range(n_genes):
        gene_id = f"G{k:02d}"
        tss = spacing * (k + 1)
        start0 = tss - 1 - window // 2
        # SNV positions: distinct, away from the window edges, half of them near the TSS.
        near = rng.choice(np.arange(tss - causal_radius, tss + causal_radius), n_snvs // 2, replace=False)
        far_pool = np.setdiff1d(np.arange(start0 + 32, start0 + window - 32), near)
        far = rng.choice(far_pool, n_snvs - n_snvs // 2, replace=False)
        pos = np.sort(np.concatenate([near, far]))
        alleles = simulate_haplotypes(rng, n_people, n_snvs, block_size=4, n_founders=6, flip=0.08)
        dosage = alleles.sum(axis=1)
        freq = dosage.mean(axis=0) / 2
        ids = [f"{gene_id}_{p}" for p in pos]
        dosages[gene_id] = pd.DataFrame(dosage, index=samples, columns=ids)
        for v, p in enumerate(pos):
            ref = seq[p - 1]
            alt = str(rng.choice([b for b in "ACGT" if b != ref]))
            gts = [f"{a}|{b}" for a, b in alleles[:, :, v]]
            rows.append(("22", int(p), ids[v], ref, alt, gts))
        noise = rng.standard_normal(n_people)
        candidates = [v for v in range(n_snvs) if abs(pos[v] - tss) < causal_radius and 0.2 <= freq[v] <= 0.8]
        if k < n_cis and candidates:
            # One or two causal SNVs in different LD blocks.
            chosen = [int(rng.choice(candidates))]
            others = [v for v in candidates if v // 4 != chosen[0] // 4]
            if others and rng.random() < 0.5:
                chosen.append(int(rng.choice(others)))
            beta = rng.choice([-1.0, 1.0], len(chosen)) * rng.uniform(0.6, 1.0, len(chosen))
            genetic = dosage[:, chosen] @ beta
            genetic = (genetic - genetic.mean()) / genetic.std()
            y = np.sqrt(heritability) * genetic + np.sqrt(1 - heritability) * noise
            causal[gene_id] = [ids[v] for v in chosen]
        else:
            y = noise
            causal[gene_id] = []
        expression[gene_id] = 5.0 + y
        genes.append((gene_id, f"PLANT{k}", "22", tss, "+" if k % 2 == 0 else "-"))
    fasta = write_fasta(tmp_path / "chr22.fa", {"22": seq})
    vcf = write_vcf(tmp_path / "cohort.vcf.gz", samples, rows, {"22": len(seq)})
    genes_path = write_genes(tmp_path / "genes.tsv", genes)
    table = pd.DataFrame(expression, index=samples).T
    table.index.name = "gene_id"
    table.reset_index().to_csv(tmp_path / "expression.tsv", sep="\t", index=False)
    return PlantedCohort(fasta, vcf, genes_path, tmp_path / "expression.tsv", causal, window, dosages)
