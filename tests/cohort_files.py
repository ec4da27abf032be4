"""Small cohort files for tests: FASTA, bgzipped + indexed VCF, genes TSV, expression TSV,
and `bcftools consensus` as the independent reference implementation of haplotypes; a cohort's
files and run settings for a precompute, and its store's tables read back."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions

VCF_HEADER = """##fileformat=VCFv4.2
{contigs}##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}
"""


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path


def write_vcf(path: Path, samples: list[str], rows: list[tuple], contigs: dict[str, int]) -> Path:
    """rows: (chrom, pos, id, ref, alt, [GT per sample]); writes PATH (bgzip) and its .tbi index."""
    plain = path.with_suffix("")  # x.vcf.gz -> x.vcf
    text = VCF_HEADER.format(
        contigs="".join(f"##contig=<ID={c},length={n}>\n" for c, n in contigs.items()),
        samples="\t".join(samples),
    )
    for chrom, pos, vid, ref, alt, gts in sorted(rows, key=lambda r: (list(contigs).index(r[0]), r[1])):
        text += f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\t.\t.\tGT\t" + "\t".join(gts) + "\n"
    plain.write_text(text)
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def write_genes(path: Path, genes: list[tuple]) -> Path:
    pd.DataFrame(genes, columns=["gene_id", "gene_name", "chrom", "tss", "strand"]).to_csv(
        path, sep="\t", index=False
    )
    return path


def write_expression(path: Path, gene_ids: list[str], samples: list[str], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(len(gene_ids), len(samples))), columns=samples)
    table.insert(0, "gene_id", gene_ids)
    table.to_csv(path, sep="\t", index=False)
    return path


def bcftools_consensus(region_fasta: Path, vcf: Path, sample: str, hap: int) -> str:
    """One haplotype of `sample` from `bcftools consensus -H 1|2` on a FASTA named CHR:FROM-TO."""
    out = subprocess.run(
        ["bcftools", "consensus", "-f", str(region_fasta), "-s", sample, "-H", str(hap), str(vcf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "".join(line.strip() for line in out.splitlines() if not line.startswith(">")).upper()


def snvs_only(vcf: Path, out: Path, region: str | None = None) -> Path:
    """The SNV records (bcftools view -v snps), indexed, so bcftools applies what we apply."""
    cmd = ["bcftools", "view", "-v", "snps", "-Oz", "-o", str(out), str(vcf)]
    if region:
        cmd[2:2] = ["-r", region]
    subprocess.run(cmd, check=True)
    subprocess.run(["bcftools", "index", "-t", "-f", str(out)], check=True)
    return out


def random_sequence(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=n))


def simulated_cohort(tmp_path: Path, seed: int = 1, n_people: int = 12) -> dict:
    """Random reference (two chromosomes), random phased genotypes with multi-allelic SNVs,
    indels and a few missing calls; genes incl. one whose window runs off a chromosome end."""
    rng = np.random.default_rng(seed)
    contigs = {"chrA": 3000, "chrB": 2500}
    seqs = {c: random_sequence(rng, n) for c, n in contigs.items()}
    samples = [f"P{i:02d}" for i in range(n_people)]
    rows, n_multi, n_indel, n_missing = [], 0, 0, 0
    for chrom, n in contigs.items():
        positions = np.sort(rng.choice(np.arange(5, n - 5), size=60, replace=False))
        for k, pos in enumerate(positions):
            ref = seqs[chrom][pos - 1]
            others = [b for b in "ACGT" if b != ref]
            if k % 15 == 7:  # indel
                alt, n_alleles = ref + "T", 2
                n_indel += 1
            elif k % 6 == 3:  # multi-allelic SNV
                alt, n_alleles = ",".join(rng.choice(others, size=2, replace=False)), 3
                n_multi += 1
            else:
                alt, n_alleles = str(rng.choice(others)), 2
            gts = []
            for _ in samples:
                a, b = rng.integers(0, n_alleles, size=2)
                if rng.random() < 0.03:
                    gts.append(rng.choice(["./.", ".|.", f"{a}|.", f".|{b}"]))
                    n_missing += 1
                else:
                    gts.append(f"{a}|{b}")
            rows.append((chrom, int(pos), f"v{chrom}_{pos}", ref, alt, gts))
    fasta = write_fasta(tmp_path / "ref.fa", seqs)
    vcf = write_vcf(tmp_path / "cohort.vcf.gz", samples, rows, contigs)
    genes = write_genes(
        tmp_path / "genes.tsv",
        [
            ("G1", "ONE", "chrA", 1500, "+"),
            ("G2", "TWO", "chrA", 2900, "-"),
            ("G3", "THREE", "chrB", 40, "+"),
        ],
    )
    expression = write_expression(tmp_path / "expression.tsv", ["G1", "G2", "G3"], samples[::-1])
    return dict(
        fasta=fasta,
        vcf=vcf,
        genes=genes,
        expression=expression,
        seqs=seqs,
        samples=samples,
        rows=rows,
        contigs=contigs,
        n_multi=n_multi,
        n_indel=n_indel,
        n_missing=n_missing,
    )


def many_genes_cohort(tmp_path: Path, n_genes: int = 12, n_people: int = 12) -> dict:
    """Random sequence, biallelic SNVs and many genes, so a run takes several seconds."""
    rng = np.random.default_rng(11)
    length = 40_000
    seq = random_sequence(rng, length)
    samples = [f"S{i:02d}" for i in range(n_people)]
    rows = []
    for pos in np.sort(rng.choice(np.arange(10, length - 10), size=300, replace=False)):
        ref = seq[pos - 1]
        alt = str(rng.choice([b for b in "ACGT" if b != ref]))
        freq = rng.uniform(0.05, 0.5)
        gts = [f"{int(rng.random() < freq)}|{int(rng.random() < freq)}" for _ in samples]
        rows.append(("chr1", int(pos), f"rs{pos}", ref, alt, gts))
    gene_ids = [f"ENSG{i:04d}" for i in range(n_genes)]
    tss = np.linspace(1_000, length - 1_000, n_genes).astype(int)
    return dict(
        fasta=write_fasta(tmp_path / "ref.fa", {"chr1": seq}),
        vcf=write_vcf(tmp_path / "cohort.vcf.gz", samples, rows, {"chr1": length}),
        genes=write_genes(
            tmp_path / "genes.tsv",
            [(g, f"GENE{i}", "chr1", int(tss[i]), "+-"[i % 2]) for i, g in enumerate(gene_ids)],
        ),
        expression=write_expression(tmp_path / "expression.tsv", gene_ids, samples),
    )


def files_for(c: dict) -> CohortFiles:
    """A cohort's files (from `simulated_cohort` or `many_genes_cohort`), missing calls as REF."""
    return CohortFiles(str(c["fasta"]), str(c["vcf"]), str(c["genes"]), str(c["expression"]), "reference")


def settings_for(weights: Path, **model) -> RunSettings:
    """Run settings on CPU for the model saved at `weights`: track 7, 20 null draws, no PrediXcan."""
    return RunSettings(
        window=None,
        model=ModelOptions(weights=str(weights), track=7, batch_size=8, device="cpu", **model),
        stats=StatsOptions(null_draws=20, seed=1, predixcan=False),
    )


def read_store(path: Path) -> dict[str, pd.DataFrame]:
    """A store's finished tables, by file name."""
    return {p.name: pd.read_parquet(p) for p in sorted(Path(path).glob("*.parquet"))}


def bcftools_dosage(vcf: Path, chrom: str, pos: int, alt: str) -> pd.Series:
    """Copies of `alt` each sample carries at chrom:pos, read with `bcftools query` (a missing
    allele counts as REF, the `--missing reference` policy)."""
    out = subprocess.run(
        ["bcftools", "query", "-r", f"{chrom}:{pos}", "-f", r"%POS\t%ALT[\t%SAMPLE=%GT]\n", str(vcf)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        at, alts, *calls = line.split("\t")
        if int(at) != pos or alt not in alts.split(","):
            continue
        code = str(alts.split(",").index(alt) + 1)
        return pd.Series(
            {s: sum(a == code for a in re.split(r"[|/]", gt)) for s, gt in (c.split("=") for c in calls)},
            name="dosage",
        )
    raise ValueError(f"{vcf}: no record {chrom}:{pos} with ALT {alt}")


def small_run(base: Path, seed: int, n_people: int, null_draws: int, predixcan: bool, gradients: bool):
    """`simulated_cohort` through a tiny model: (cohort, files, settings); the caller runs precompute."""
    from compute.engine.models import save_weights, small_model
    from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions

    cohort = simulated_cohort(base, seed=seed, n_people=n_people)
    weights = save_weights(
        small_model(seed=2, window=2048, device="cpu", dim=24, depth=1, heads=1), base / "m"
    )
    files = CohortFiles(*(str(cohort[k]) for k in ("fasta", "vcf", "genes", "expression")), "reference")
    settings = RunSettings(
        window=None, model=ModelOptions(weights=str(weights), track=3, batch_size=8, device="cpu"),
        stats=StatsOptions(null_draws=null_draws, seed=4, predixcan=predixcan), gradients=gradients,
    )  # fmt: skip
    return cohort, files, settings
