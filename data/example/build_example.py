"""Build the tiny example cohort in data/example/ (deterministic, seed 2023).

    python data/example/build_example.py [--out DIR]   # needs data/external/, Debian bgzip + tabix

Reference: 8 kb of real GRCh37 sequence, chr22:20,400,001-20,408,000 (from the hisat2
example in data/external/22_20-21M.fa), as one record named `ex22` whose position 1 is
chr22:20,400,001. Genotypes: 9 simulated people, phased SNVs placed on that sequence
(REF = the real base), two multi-allelic SNVs and two indels. Genes: five made-up genes
with TSSs on the slice. Expression: 8 of the 9 people (one person is only in the VCF,
to show the overlap report); each gene's expression = 0.8 x dosage of one causal SNV
+ N(0, 1) noise, the causal SNV written to truth.tsv.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "external" / "22_20-21M.fa"
SOURCE_START = 20_000_001  # chromosome position of the source record's first base
SLICE_START, LENGTH = 20_400_001, 8_000
CONTIG = "ex22"
SEED = 2023


def read_slice() -> str:
    lines = SOURCE.read_text().splitlines()
    seq = "".join(line.strip() for line in lines[1:])
    offset = SLICE_START - SOURCE_START
    return seq[offset : offset + LENGTH].upper()


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    seq = read_slice()
    (out / "reference.fa").write_text(
        f">{CONTIG}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    )

    people = [f"EX{i:02d}" for i in range(1, 10)]
    positions = np.sort(rng.choice(np.arange(50, LENGTH - 50), size=80, replace=False))
    rows, calls_by_pos = [], {}
    for k, pos in enumerate(positions):
        ref = seq[pos - 1]
        others = [b for b in "ACGT" if b != ref]
        if k in (20, 55):
            alt, kind = ref + "GT", "indel"  # insertion: skipped and counted
        elif k in (10, 40):
            alt, kind = ",".join(others[:2]), "multi"  # multi-allelic SNV
        else:
            alt, kind = others[int(rng.integers(3))], "snv"
        freq = rng.uniform(0.1, 0.5)
        haps = (rng.random((len(people), 2)) < freq).astype(int)
        if kind == "multi":
            haps *= rng.integers(1, 3, size=haps.shape)
        calls_by_pos[int(pos)] = (haps, kind)
        gts = [f"{a}|{b}" for a, b in haps]
        rows.append(f"{CONTIG}\t{pos}\trs_ex{k + 1}\t{ref}\t{alt}\t.\tPASS\t.\tGT\t" + "\t".join(gts))
    header = (
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID={CONTIG},length={LENGTH}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(people) + "\n"
    )
    vcf = out / "genotypes.vcf"
    vcf.write_text(header + "\n".join(rows) + "\n")
    subprocess.run(["bgzip", "-f", str(vcf)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", f"{vcf}.gz"], check=True)

    genes = pd.DataFrame(
        [("EXG1", "EXAMPLE1", CONTIG, 900, "+"), ("EXG2", "EXAMPLE2", CONTIG, 2600, "-"),
         ("EXG3", "EXAMPLE3", CONTIG, 4100, "+"), ("EXG4", "EXAMPLE4", CONTIG, 5800, "-"),
         ("EXG5", "EXAMPLE5", CONTIG, 7900, "+")],
        columns=["gene_id", "gene_name", "chrom", "tss", "strand"],
    )
    genes.to_csv(out / "genes.tsv", sep="\t", index=False)

    # Expression: one causal biallelic SNV within 1 kb of each TSS, 0.8 per ALT allele.
    biallelic = [p for p, (_, kind) in calls_by_pos.items() if kind == "snv"]
    expressed = people[:-1]
    table, truth = {}, []
    for gene in genes.itertuples():
        near = [p for p in biallelic if abs(p - gene.tss) <= 1000]
        causal = near[int(rng.integers(len(near)))]
        dosage = calls_by_pos[causal][0].sum(axis=1)[: len(expressed)]
        table[gene.gene_id] = np.round(0.8 * dosage + rng.normal(size=len(expressed)), 4)
        truth.append((gene.gene_id, CONTIG, causal, 0.8))
    expression = pd.DataFrame(table, index=expressed).T
    expression.index.name = "gene_id"
    expression.to_csv(out / "expression.tsv", sep="\t")
    pd.DataFrame(truth, columns=["gene_id", "chrom", "causal_pos", "effect_per_alt"]).to_csv(
        out / "truth.tsv", sep="\t", index=False
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: data/example/)")
    main(parser.parse_args().out)
