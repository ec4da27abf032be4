"""A tensorQTL/FastQTL phenotype BED carries each gene's TSS (its `end`, 1-based, = `start` + 1), so
`--genes` is optional with one: chrom and TSS from the BED, strand + (a GTF given as --genes wins,
with its strands), recorded in the manifest and said in one printed line. A BED-only cohort gives
the store that an equivalent genes table gives; every command that takes --genes accepts its
absence then, and refuses it, in one line, for any other expression format; bad BED rows are
refused naming the file and line."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from compute.cli import main
from compute.cohort.inputs import load_cohort, read_exons
from compute.errors import InputError
from compute.run.on_demand import compute_genes, settings_from_manifest
from compute.run.pipeline import precompute
from compute.run.settings import CohortFiles
from tests.cohort_files import files_for, read_store, settings_for, simulated_cohort

WINDOW = 2048
GENES = [("G1", "chrA", 1500, "+"), ("G2", "chrA", 2900, "-"), ("G3", "chrB", 40, "+")]


def write_bed(path: Path, expression: Path, rows: list[tuple] = GENES, gz: bool = True) -> Path:
    """The expression of `simulated_cohort` as a phenotype BED (GTEx's layout), bgzipped."""
    table = pd.read_csv(expression, sep="\t", index_col=0)
    lines = ["#chr\tstart\tend\tphenotype_id\t" + "\t".join(table.columns)]
    for gene_id, chrom, tss, _ in rows:
        values = "\t".join(f"{v:.6f}" for v in table.loc[gene_id])
        lines.append(f"{chrom}\t{tss - 1}\t{tss}\t{gene_id}\t{values}")
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("bed")
    c = simulated_cohort(base, seed=3, n_people=16)
    c["bed"] = write_bed(base / "expression.bed.gz", c["expression"])
    # the genes table the BED is equivalent to: its IDs as names, strand +
    pd.DataFrame([(g, g, chrom, tss, "+") for g, chrom, tss, _ in GENES],
                 columns=["gene_id", "gene_name", "chrom", "tss", "strand"]).to_csv(
        base / "equivalent.tsv", sep="\t", index=False)  # fmt: skip
    c["equivalent"] = base / "equivalent.tsv"
    gtf = [f'{chrom}\ttest\tgene\t{tss if s == "+" else tss - 300}\t{tss + 300 if s == "+" else tss}\t.\t{s}'
           f'\t.\tgene_id "{g}"; gene_name "N{g}";' for g, chrom, tss, s in GENES]  # fmt: skip
    (base / "genes.gtf").write_text("\n".join(gtf) + "\n")
    c["gtf"] = base / "genes.gtf"
    return c


def bed_files(c: dict, genes: str | None = None) -> CohortFiles:
    return replace(files_for(c), genes=genes, expression=str(c["bed"]))


def test_a_bed_only_cohort_gives_the_store_of_an_equivalent_genes_table(cohort, tiny_weights, tmp_path):
    settings = settings_for(tiny_weights)
    printed: list[str] = []
    from_bed = precompute(bed_files(cohort), settings, tmp_path / "bed", progress=False,
                          announce=printed.append)  # fmt: skip
    with_table = precompute(bed_files(cohort, str(cohort["equivalent"])), settings, tmp_path / "tsv",
                            progress=False)  # fmt: skip
    a, b = read_store(from_bed.path), read_store(with_table.path)
    assert a.keys() == b.keys() and "genes.parquet" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    genes = a["genes.parquet"].set_index("gene_id")
    assert genes["tss"].to_dict() == {g: tss for g, _, tss, _ in GENES} and set(genes["strand"]) == {"+"}
    # where the positions came from: the manifest and one printed line
    positions = from_bed.manifest["input_report"]["genes"]["positions"]
    assert positions["source"] == "expression BED" and positions["file"] == str(cohort["bed"])
    assert positions["strand"].startswith("+ for every gene")
    assert "genes" not in from_bed.manifest["inputs"]
    assert with_table.manifest["input_report"]["genes"]["positions"]["source"] == "genes table"
    said = [line for line in "\n".join(printed).splitlines() if "phenotype BED" in line]
    assert len(said) == 1 and "TSS = its end" in said[0] and "strand +" in said[0]
    # a job array's shard, and a gene added on demand, read the positions from the BED too
    shard = precompute(bed_files(cohort), settings, tmp_path / "shard", progress=False, shard=(0, 1))
    for name, table in read_store(shard.path).items():
        pd.testing.assert_frame_equal(table, a[name], check_exact=True)
    part = precompute(bed_files(cohort), settings, tmp_path / "part", genes=["G1"], progress=False)
    files, _ = settings_from_manifest(part)
    assert files.genes is None and files.expression == str(cohort["bed"])
    assert compute_genes(part.path, ["G3"], device="cpu") == {"G3": None}
    pd.testing.assert_frame_equal(part.people("G3"), from_bed.people("G3"), check_exact=True)
    # the dashboard lists the BED's genes as the cohort's (for "compute this gene")
    from compute.store.inputs import cohort_gene_table

    assert cohort_gene_table(part)["gene_id"].tolist() == ["G1", "G2", "G3"]


def test_a_gtf_given_as_genes_wins_with_its_strands(cohort):
    loaded = load_cohort(cohort["fasta"], cohort["vcf"], cohort["gtf"], cohort["bed"], window=WINDOW,
                         missing="reference")  # fmt: skip
    genes = loaded.genes.set_index("gene_id")
    assert genes["strand"].to_dict() == {g: s for g, _, _, s in GENES}
    assert genes["tss"].to_dict() == {g: tss for g, _, tss, _ in GENES}  # GTF: start on +, end on -
    assert loaded.positions == {"source": "genes table", "file": str(cohort["gtf"]), "strand": "GTF"}
    plain = load_cohort(cohort["fasta"], cohort["vcf"], None, cohort["bed"], WINDOW, missing="reference")
    assert set(plain.genes["strand"]) == {"+"} and plain.positions["source"] == "expression BED"


def _cli_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    return err


def test_every_command_refuses_a_missing_genes_table_without_a_bed(cohort, capsys, tmp_path):
    common = ["--fasta", str(cohort["fasta"]), "--vcf", str(cohort["vcf"]), "--expression",
              str(cohort["expression"])]  # fmt: skip
    expected = f"error: --genes not given, and {cohort['expression']} is a TSV expression matrix"
    for argv in (["validate", *common],
                 ["precompute", *common, "--weights", "nowhere", "--out", str(tmp_path / "s")],
                 ["cnn-baseline", *common, "--out", str(tmp_path / "c")],
                 ["finetune", *common, "--small", "--out", str(tmp_path / "f")]):  # fmt: skip
        err = _cli_error(capsys, *argv)
        assert err.startswith(expected) and "phenotype BED" in err, (argv[0], err)
    # with a BED, validate takes it and says where the positions came from
    bed = ["--fasta", str(cohort["fasta"]), "--vcf", str(cohort["vcf"]), "--expression", str(cohort["bed"])]
    assert main(["validate", *bed, "--missing", "reference", "--window", str(WINDOW)]) == 0
    assert "gene positions from the phenotype BED" in capsys.readouterr().out
    # the exons readout (Borzoi, AlphaGenome) needs exons, which a BED has not
    with pytest.raises(InputError, match="--genes not given: the exons readout needs each gene's exons"):
        read_exons(None)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("chrA\t1499\t1501\tG1", "line 2 (gene G1): expected end = start + 1"),
        ("chrA\t1499.0\t1500\tG1", "line 2 (gene G1): expected integer start and end"),
        ("chrA\t-1\t0\tG1", "line 2 (gene G1): expected integer start and end"),
        ("chrZ\t1499\t1500\tG1", "line 2 (gene G1)"),
    ],
)
def test_bad_bed_rows_are_refused_naming_the_file_and_line(cohort, tmp_path, row, expected):
    good = gzip.open(cohort["bed"], "rt").read().splitlines()
    values = good[1].split("\t", 4)[4]
    path = tmp_path / "bad.bed"
    path.write_text("\n".join([good[0], f"{row}\t{values}", *good[2:]]) + "\n")
    with pytest.raises(InputError) as info:
        load_cohort(cohort["fasta"], cohort["vcf"], None, path, window=WINDOW, missing="reference")
    message = str(info.value)
    assert message.startswith(f"{path}: {expected}"), message
    if "chrZ" in row:
        assert "chrZ" in message
