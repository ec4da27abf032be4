"""Cohort inputs: a clean cohort loads with the right summary; every bad input of DESIGN §3
stops with an InputError naming the file, the record or line, and the problem."""

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from cohort_files import (
    bcftools_dosage,
    random_sequence,
    write_expression,
    write_fasta,
    write_genes,
    write_vcf,
)

from compute.cohort.inputs import load_cohort, read_expression, read_genes
from compute.cohort.reference import Reference, decode
from compute.errors import InputError

SAMPLES = ["S1", "S2", "S3", "S4", "S5"]
CHROM_LEN = 2_000
WINDOW = 400


def build(tmp_path, chrom="22", vcf_chrom=None, gts=None, extra_rows=(), samples=SAMPLES,
          expression_samples=None, genes=None):
    """A clean cohort: one 2 kb chromosome, 5 people, 12 phased SNVs, one indel, one
    multi-allelic SNV; arguments replace one piece to make it bad."""
    rng = np.random.default_rng(7)
    seq = random_sequence(rng, CHROM_LEN)
    vcf_chrom = vcf_chrom or chrom
    rows = []
    for k, pos in enumerate(range(100, 1300, 100)):
        ref = seq[pos - 1]
        alt = next(b for b in "ACGT" if b != ref)
        calls = gts or [f"{(k + i) % 2}|{(k * i) % 2}" for i in range(len(samples))]
        rows.append((vcf_chrom, pos, f"rs{pos}", ref, alt, calls))
    ref = seq[1349]
    rows.append((vcf_chrom, 1350, "indel1", ref, ref + "GG", ["0|1"] * len(samples)))
    ref = seq[1399]
    alts = ",".join(b for b in "ACGT" if b != ref)[:3]
    rows.append((vcf_chrom, 1400, "multi1", ref, alts, ["0|2", "2|2", "1|0", "0|0", "2|0"][: len(samples)]))
    rows += list(extra_rows)
    paths = dict(
        fasta=write_fasta(tmp_path / "ref.fa", {chrom: seq}),
        vcf=write_vcf(tmp_path / "calls.vcf.gz", list(samples), rows, {vcf_chrom: CHROM_LEN}),
        genes=write_genes(tmp_path / "genes.tsv", genes or [
            ("ENSG1", "GENE1", chrom, 500, "+"), ("ENSG2", "GENE2", chrom, 1250, "-"),
            ("ENSG3", "GENE3", chrom, 1900, "+")]),
        expression=write_expression(tmp_path / "expr.tsv", ["ENSG1", "ENSG2", "ENSG3"],
                                    expression_samples or list(reversed(samples))),
    )
    return paths, seq


def load(paths, **kw):
    return load_cohort(paths["fasta"], paths["vcf"], paths["genes"], paths["expression"], window=WINDOW, **kw)


def error_of(paths, **kw) -> str:
    with pytest.raises(InputError) as info:
        load(paths, **kw)
    return str(info.value)


def test_clean_cohort(tmp_path):
    paths, _ = build(tmp_path)
    cohort = load(paths)
    assert cohort.people == SAMPLES  # VCF order, although the expression header is reversed
    assert list(cohort.expression.columns) == SAMPLES
    raw = pd.read_csv(paths["expression"], sep="\t", index_col=0)
    assert np.array_equal(cohort.expression.to_numpy(), raw.loc[:, SAMPLES].to_numpy())
    # windows hold POS in [tss - 200, tss + 199]: SNVs at 100..1200 step 100, the multi-allelic at 1400
    assert cohort.genes["n_snvs"].tolist() == [4, 3, 0]
    assert (cohort.counts.indels, cohort.counts.multiallelic, cohort.counts.missing) == (1, 1, 0)
    summary = cohort.summary()
    for text in ["people: 5 in both files", "genes: 3", "min 0, median 3, max 4", "indels skipped: 1",
                 "multi-allelic records: 1", "read as REF: 0"]:
        assert text in summary, summary


@pytest.mark.parametrize("which", ["fasta", "vcf", "genes", "expression"])
def test_missing_file(tmp_path, which):
    paths, _ = build(tmp_path)
    paths[which].unlink()
    message = error_of(paths)
    assert str(paths[which]) in message and "not found" in message


def test_missing_vcf_index(tmp_path):
    paths, _ = build(tmp_path)
    (tmp_path / "calls.vcf.gz.tbi").unlink()
    message = error_of(paths)
    assert "calls.vcf.gz" in message and "no index" in message and "bcftools index" in message


def test_missing_fasta_index_is_built(tmp_path):
    paths, seq = build(tmp_path)
    fai = tmp_path / "ref.fa.fai"
    fai.unlink(missing_ok=True)
    assert Reference(paths["fasta"]).length("22") == CHROM_LEN
    assert fai.is_file()


def test_missing_fasta_index_in_read_only_directory(tmp_path, monkeypatch):
    paths, _ = build(tmp_path)
    (tmp_path / "ref.fa.fai").unlink(missing_ok=True)
    # The test may run as root, for whom chmod cannot make a directory unwritable.
    monkeypatch.setattr("compute.cohort.reference.os.access", lambda path, mode: False)
    message = error_of(paths)
    assert "ref.fa" in message and "ref.fa.fai" in message and "not writable" in message


def test_bgzip_fasta_reads_like_plain_and_gzip_is_refused(tmp_path):
    paths, seq = build(tmp_path)
    subprocess.run(["bgzip", "-k", "-f", str(paths["fasta"])], check=True)
    bgz = Reference(tmp_path / "ref.fa.gz")
    assert decode(bgz.tokens("22", 0, CHROM_LEN)) == seq
    with open(paths["fasta"], "rb") as src, gzip.open(tmp_path / "plain.fa.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with pytest.raises(InputError, match="bgzip"):
        Reference(tmp_path / "plain.fa.gz")


def test_bgzip_fasta_with_block_index_reads_like_plain_across_blocks_and_records(tmp_path):
    rng = np.random.default_rng(5)
    # three records over many 64 kB BGZF blocks, line widths 60 and 70, lower case kept as read
    records = {
        "a": random_sequence(rng, 150_001),
        "b": random_sequence(rng, 250_003).lower(),
        "c": "ACGTN" * 9,
    }
    plain = tmp_path / "ref.fa"
    with open(plain, "w") as f:
        for (name, seq), width in zip(records.items(), (60, 70, 60), strict=True):
            f.write(f">{name} description\n")
            f.write("".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width)))
    subprocess.run(["bgzip", "-k", "-f", "-i", str(plain)], check=True)
    fast, slow = Reference(tmp_path / "ref.fa.gz"), Reference(plain)
    assert fast._blocks is not None
    assert fast.chromosomes == slow.chromosomes == list(records)
    for name, seq in records.items():
        n = len(seq)
        cuts = [(0, n), (-5, 7), (n - 3, n + 4), (59, 61), (69, 141)]
        cuts += [tuple(sorted(rng.integers(0, n, 2))) for _ in range(40)]
        for lo, hi in cuts:
            np.testing.assert_array_equal(
                fast.tokens(name, lo, hi), slow.tokens(name, lo, hi), f"{name} {lo}-{hi}"
            )
    # without the .gzi, pyfaidx's own reader gives the same
    (tmp_path / "ref.fa.gz.gzi").unlink()
    again = Reference(tmp_path / "ref.fa.gz")
    assert again._blocks is None
    np.testing.assert_array_equal(again.tokens("b", 99_990, 200_010), slow.tokens("b", 99_990, 200_010))


def test_reference_tokens_pad_with_n_off_the_chromosome(tmp_path):
    paths, seq = build(tmp_path)
    reference = Reference(paths["fasta"])
    assert decode(reference.tokens("22", -3, 2)) == "NNN" + seq[:2]
    assert decode(reference.tokens("22", CHROM_LEN - 2, CHROM_LEN + 3)) == seq[-2:] + "NNN"


def test_chromosome_naming_mismatch_genes_vs_fasta(tmp_path):
    paths, _ = build(tmp_path, genes=[("ENSG1", "GENE1", "chr22", 500, "+")])
    message = error_of(paths)
    assert "naming mismatch" in message and "'chr22'" in message and "'22'" in message
    assert "genes.tsv: line 2" in message and "ref.fa" in message


def test_chromosome_naming_mismatch_vcf_vs_fasta(tmp_path):
    paths, _ = build(tmp_path, vcf_chrom="chr22")
    message = error_of(paths)
    assert "naming mismatch" in message and "calls.vcf.gz" in message and "'chr22'" in message


def test_ref_allele_disagrees_with_fasta(tmp_path):
    paths, seq = build(tmp_path)
    wrong = next(b for b in "ACGT" if b != seq[299])
    write_fasta(paths["fasta"], {"22": seq[:299] + wrong + seq[300:]})
    (tmp_path / "ref.fa.fai").unlink(missing_ok=True)
    message = error_of(paths, ref_mismatch="error")  # stop at the first
    assert "calls.vcf.gz: record 22:300 rs300" in message
    assert f"REF allele '{seq[299]}'" in message and f"has '{wrong}'" in message
    # by default counted over the records read (those in gene windows): 1 of 7 is far more than 0.1%
    message = error_of(paths)
    assert "calls.vcf.gz: REF disagrees with" in message and "at 1 of 7 SNV records read (14.29%" in message
    assert "calls.vcf.gz: record 22:300 rs300 " in message.split("e.g. ")[1]


def test_a_rare_ref_mismatch_is_skipped_and_reported(tmp_path):
    """One REF of 1,300 SNV records disagrees (a left-over record of a liftover, 0.08%): skipped."""
    rng = np.random.default_rng(3)
    seq = random_sequence(rng, 3000)
    rows = []
    for pos in range(2, 2602, 2):
        ref = seq[pos - 1] if pos != 1000 else next(b for b in "ACGT" if b != seq[999])
        alt = next(b for b in "ACGT" if b != ref and b != seq[pos - 1])
        rows.append(("22", pos, f"rs{pos}", ref, alt, ["0|1"] * len(SAMPLES)))
    paths = dict(
        fasta=write_fasta(tmp_path / "ref.fa", {"22": seq}),
        vcf=write_vcf(tmp_path / "calls.vcf.gz", list(SAMPLES), rows, {"22": 3000}),
        genes=write_genes(tmp_path / "genes.tsv", [("ENSG1", "GENE1", "22", 1500, "+")]),
        expression=write_expression(tmp_path / "expr.tsv", ["ENSG1"], list(SAMPLES)),
    )
    cohort = load_cohort(paths["fasta"], paths["vcf"], paths["genes"], paths["expression"], window=3000)
    assert (cohort.counts.ref_mismatch, cohort.counts.snv_records) == (1, 1300)
    assert cohort.genes["n_snvs"].tolist() == [1299]
    assert "REF alleles disagreeing with the FASTA: 1 of 1300 SNV records" in cohort.summary()
    assert cohort.report()["records"]["ref_mismatch_skipped"]["examples"][0].startswith(
        f"{paths['vcf']}: record 22:1000 rs1000"
    )
    wv = cohort.window_variants("22", 0, 3000)  # the worker's read skips the same record
    assert len(wv.variants) == 1299 and 1000 not in set(wv.variants["pos"])


def test_contig_lengths_of_another_build_are_refused(tmp_path):
    paths, seq = build(tmp_path)
    rows = [("22", 100, "rs100", seq[99], next(b for b in "ACGT" if b != seq[99]), ["0|1"] * len(SAMPLES))]
    write_vcf(paths["vcf"], list(SAMPLES), rows, {"22": 51_304_566})  # GRCh38's chr22 against a 2 kb FASTA
    message = error_of(paths)
    assert "calls.vcf.gz: ##contig 22 has length 51,304,566, but" in message
    assert f"has {CHROM_LEN:,} for it" in message


@pytest.mark.parametrize("call,kind", [("0/1", "unphased"), ("./.", "missing"), (".|1", "missing")])
def test_unphased_or_missing_genotype(tmp_path, call, kind):
    gts = ["0|1", "1|1", call, "0|0", "1|0"]
    paths, _ = build(tmp_path, gts=gts)
    message = error_of(paths)
    assert f"{kind} genotype for sample S3" in message and "calls.vcf.gz: record 22:" in message
    cohort = load(paths, missing="reference")
    n_records_in_windows = 6  # SNV records inside the gene windows, each with one bad call
    assert cohort.counts.missing == n_records_in_windows
    assert f"read as REF: {n_records_in_windows} (policy: reference)" in cohort.summary()


def test_haploid_calls_count_twice_on_both_haplotypes_and_are_reported(tmp_path):
    """A male's chrX call `1`: both haplotypes carry ALT, dosage 2 (the QTL field's convention);
    `0` is REF on both. bcftools counts the same allele once, so its dosage is doubled here."""
    from compute.cohort.haplotypes import window_variants

    paths, _ = build(tmp_path, gts=["0|1", "1", "0|0", "0", "1|0"])
    cohort = load(paths)
    assert cohort.counts.haploid == 2 * 6 and cohort.counts.missing == 0  # 2 people x 6 records in windows
    assert "haploid calls (both haplotypes carry the allele): 12" in cohort.summary()
    wv = window_variants(paths["vcf"], "22", 0, 2000, SAMPLES)
    assert wv.alleles[1].min() == 1 and wv.alleles[3].max() == 0  # S2 carries ALT twice, S4 REF twice
    for k, pos in enumerate(wv.variants["pos"]):
        if not wv.variants["variant_id"].iloc[k].startswith("rs"):
            continue  # the multi-allelic record keeps its own, diploid calls
        expected = bcftools_dosage(paths["vcf"], "22", int(pos), wv.variants["alt"].iloc[k])
        expected[["S2", "S4"]] *= 2  # bcftools counts a haploid call's allele once
        assert wv.dosage[:, k].tolist() == expected[list(SAMPLES)].tolist()


def test_unphased_calls_say_to_phase_first(tmp_path):
    paths, _ = build(tmp_path, gts=["0|1", "0/1", "0|0", "0|0", "1|0"])
    message = error_of(paths)
    assert "unphased genotype for sample S2" in message and "SHAPEIT5, Eagle or Beagle" in message


def test_unphased_homozygous_call_is_accepted(tmp_path):
    paths, _ = build(tmp_path, gts=["0|1", "1/1", "0/0", "0|0", "1|0"])
    assert load(paths).counts.missing == 0


def test_indels_are_skipped_and_counted(tmp_path):
    _, seq = build(tmp_path)
    indels = [("22", 450, "del1", seq[449:452], seq[449], ["0|1"] * 5),
              ("22", 470, "ins1", seq[469], seq[469] + "AC", ["1|1"] * 5),
              ("22", 480, "sym1", seq[479], "<DEL>", ["0|1"] * 5)]
    paths, _ = build(tmp_path, extra_rows=indels)
    cohort = load(paths)
    assert cohort.counts.indels == 1 + 3 and cohort.genes["n_snvs"].tolist() == [4, 3, 0]
    assert "indels skipped: 4" in cohort.summary()


def test_multiallelic_records_are_counted_and_keep_the_most_common_alt(tmp_path):
    from compute.cohort.haplotypes import window_variants

    paths, seq = build(tmp_path)
    cohort = load(paths)
    assert cohort.counts.multiallelic == 1 and "multi-allelic records: 1" in cohort.summary()
    wv = window_variants(paths["vcf"], "22", 1390, 1410, SAMPLES)
    alts = [b for b in "ACGT" if b != seq[1399]]
    # calls 0|2 2|2 1|0 0|0 2|0: the second ALT is carried 4 times, the first once
    assert wv.variants["alt"].tolist() == [alts[1]] and wv.dosage[:, 0].tolist() == [1, 2, 0, 0, 1]


def test_no_shared_samples(tmp_path):
    paths, _ = build(tmp_path, expression_samples=["X1", "X2"])
    message = error_of(paths)
    assert "no sample ID matches" in message and "expr.tsv" in message and "calls.vcf.gz" in message
    assert "X1" in message and "S1" in message


def test_partial_sample_overlap_is_reported(tmp_path):
    paths, _ = build(tmp_path, expression_samples=["S2", "S4", "X9"])
    cohort = load(paths)
    assert cohort.people == ["S2", "S4"]
    summary = cohort.summary()
    assert "people: 2 in both files (VCF 5, expression 3)" in summary
    assert "3 only in the VCF, e.g. S1, S3, S5" in summary
    assert "1 only in the expression matrix, e.g. X9" in summary


def test_duplicate_gene_id_in_genes_table(tmp_path):
    paths, _ = build(tmp_path, genes=[("ENSG1", "A", "22", 500, "+"), ("ENSG2", "B", "22", 600, "+"),
                                      ("ENSG1", "C", "22", 700, "+")])
    message = error_of(paths)
    assert "genes.tsv" in message and "duplicate gene ID 'ENSG1' on lines [2, 4]" in message


def test_duplicate_gene_id_in_expression(tmp_path):
    paths, _ = build(tmp_path)
    write_expression(paths["expression"], ["ENSG1", "ENSG2", "ENSG1"], SAMPLES)
    message = error_of(paths)
    assert "expr.tsv" in message and "duplicate gene ID 'ENSG1' on lines [2, 4]" in message


def test_duplicate_sample_id_in_expression(tmp_path):
    paths, _ = build(tmp_path, expression_samples=["S1", "S2", "S1"])
    message = error_of(paths)
    assert "expr.tsv: header" in message and "duplicate sample IDs ['S1']" in message


def test_duplicate_sample_id_in_vcf(tmp_path):
    paths, _ = build(tmp_path, samples=["S1", "S2", "S1", "S4", "S5"])
    message = error_of(paths)
    assert "calls.vcf.gz" in message and "duplicate sample IDs ['S1']" in message


@pytest.mark.parametrize("value", ["inf", "-inf", "high"])
def test_non_finite_expression(tmp_path, value):
    paths, _ = build(tmp_path)
    table = pd.read_csv(paths["expression"], sep="\t", dtype=str)
    table.loc[1, "S3"] = value
    table.to_csv(paths["expression"], sep="\t", index=False)
    message = error_of(paths)
    assert "expr.tsv: line 3, gene ENSG2, sample S3: expected a finite number or NA" in message
    assert repr(value) in message


@pytest.mark.parametrize("value", ["nan", "", "NA", "."])
def test_missing_expression_leaves_that_person_out_of_that_gene(tmp_path, value):
    paths, _ = build(tmp_path)
    table = pd.read_csv(paths["expression"], sep="\t", dtype=str)
    table["S9"] = "1.0"  # a sample the VCF lacks
    table.loc[0, "S9"] = value
    table.loc[3] = ["ENSG9", *([value] * (table.shape[1] - 1))]  # a gene the genes table lacks
    table.to_csv(paths["expression"], sep="\t", index=False)
    assert load(paths).report()["expression"]["missing_values"] == {"count": 0, "genes": 0, "examples": []}
    table.loc[1, "S3"] = value
    table.to_csv(paths["expression"], sep="\t", index=False)
    cohort = load(paths)  # counted, not refused (tests/test_missing_expression.py: the statistics)
    assert np.isnan(cohort.observed("ENSG2")[cohort.people.index("S3")])
    assert np.isfinite(cohort.observed("ENSG1")).all()
    assert cohort.report()["expression"]["missing_values"] == {
        "count": 1, "genes": 1, "examples": ["ENSG2: 1 of 5 people (S3)"]}
    assert "expression missing (NA) for 1 person-gene pairs in 1 genes" in cohort.summary()


def test_tss_outside_fasta(tmp_path):
    genes = [("ENSG1", "A", "22", 500, "+"), ("ENSG2", "B", "22", CHROM_LEN + 1, "+")]
    paths, _ = build(tmp_path, genes=genes)
    message = error_of(paths)
    assert "genes.tsv: line 3 (gene ENSG2)" in message and "outside the FASTA record" in message
    assert f"1..{CHROM_LEN}" in message


def test_bad_strand(tmp_path):
    paths, _ = build(tmp_path, genes=[("ENSG1", "A", "22", 500, "x")])
    message = error_of(paths)
    assert "genes.tsv: line 2 (gene ENSG1): expected strand '+' or '-', found 'x'" in message


@pytest.mark.parametrize("tss", ["500.5", "abc", "-3", ""])
def test_non_integer_tss(tmp_path, tss):
    paths, _ = build(tmp_path, genes=[("ENSG1", "A", "22", tss, "+")])
    message = error_of(paths)
    assert "genes.tsv: line 2 (gene ENSG1): expected tss as a positive integer" in message
    assert repr(tss) in message


def test_missing_gene_columns(tmp_path):
    paths, _ = build(tmp_path)
    paths["genes"].write_text("gene_id\tchrom\tpos\nENSG1\t22\t5\n")
    message = error_of(paths)
    assert "genes.tsv: line 1" in message and "missing ['gene_name', 'tss', 'strand']" in message


def test_window_off_chromosome_end_is_not_an_error(tmp_path):
    paths, _ = build(tmp_path, genes=[("ENSG1", "A", "22", 1, "+"), ("ENSG2", "B", "22", CHROM_LEN, "-")])
    cohort = load(paths)
    assert cohort.genes["n_snvs"].tolist() == [2, 0]  # POS 100 and 200 in [1, 200]


def test_gtf_genes_tss_by_strand(tmp_path):
    gtf = tmp_path / "genes.gtf"
    gtf.write_text(
        "#!genome-build test\n"
        '22\tsrc\tgene\t100\t900\t.\t+\t.\tgene_id "ENSG1"; gene_name "GENE1";\n'
        '22\tsrc\ttranscript\t100\t900\t.\t+\t.\tgene_id "ENSG1"; transcript_id "T1";\n'
        '22\tsrc\tgene\t1000\t1500\t.\t-\t.\tgene_id "ENSG2";\n'
    )
    genes = read_genes(gtf)
    assert genes[["gene_id", "gene_name", "chrom", "tss", "strand", "line"]].values.tolist() == [
        ["ENSG1", "GENE1", "22", 100, "+", 2], ["ENSG2", "ENSG2", "22", 1500, "-", 4]]
    gtf.write_text('22\tsrc\tgene\t100\t900\t.\t.\t.\tgene_id "ENSG1";\n')
    with pytest.raises(InputError, match=r"genes.gtf: line 1 \(gene ENSG1\): expected strand"):
        read_genes(gtf)


def test_expression_header_without_gene_id_column(tmp_path):
    paths, _ = build(tmp_path)
    lines = paths["expression"].read_text().splitlines()
    paths["expression"].write_text("\n".join([lines[0].split("\t", 1)[1], *lines[1:]]) + "\n")
    message = error_of(paths)
    assert "expr.tsv: line 2: expected 5 fields like the header" in message and "found 6" in message


def test_expression_formats_agree(tmp_path):
    paths, _ = build(tmp_path)
    tsv = read_expression(paths["expression"])
    table = pd.read_csv(paths["expression"], sep="\t")
    table.to_csv(tmp_path / "expr.csv", index=False)
    table.to_parquet(tmp_path / "expr.parquet", index=False)
    pd.testing.assert_frame_equal(read_expression(tmp_path / "expr.csv"), tsv)
    pd.testing.assert_frame_equal(read_expression(tmp_path / "expr.parquet"), tsv)
    # Parquet written by df.to_parquet() with the gene ID as the index
    table.set_index("gene_id").to_parquet(tmp_path / "indexed.parquet")
    pd.testing.assert_frame_equal(read_expression(tmp_path / "indexed.parquet"), tsv)
    # R's write.csv: quoted header and fields, a BOM and CRLF line ends
    quoted = '\ufeff' + table.to_csv(index=False, quoting=1, lineterminator="\r\n")
    (tmp_path / "r.csv").write_text(quoted, encoding="utf-8")
    pd.testing.assert_frame_equal(read_expression(tmp_path / "r.csv"), tsv)
    # GCT: version line, dimensions, Name and Description
    gct = table.rename(columns={"gene_id": "Name"})
    gct.insert(1, "Description", "some gene")
    text = f"#1.2\n{len(gct)}\t{len(gct.columns) - 2}\n" + gct.to_csv(sep="\t", index=False)
    (tmp_path / "expr.gct").write_text(text)
    pd.testing.assert_frame_equal(read_expression(tmp_path / "expr.gct"), tsv)
    # tensorQTL/FastQTL phenotype BED, bgzipped as GTEx releases it (the name need not say so)
    bed = table.rename(columns={"gene_id": "phenotype_id"})
    bed.insert(0, "end", [500, 1250, 1900])
    bed.insert(0, "start", bed["end"] - 1)
    bed.insert(0, "#chr", "22")
    bed.to_csv(tmp_path / "expr.bed", sep="\t", index=False)
    subprocess.run(["bgzip", "-f", str(tmp_path / "expr.bed")], check=True)
    pd.testing.assert_frame_equal(read_expression(tmp_path / "expr.bed.gz"), tsv)
    shutil.copy(tmp_path / "expr.bed.gz", tmp_path / "renamed.tsv.gz")
    pd.testing.assert_frame_equal(read_expression(tmp_path / "renamed.tsv.gz"), tsv)
    (tmp_path / "expr.xlsx").write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(InputError, match=r"expr.xlsx: .*expected a genes x samples table"):
        read_expression(tmp_path / "expr.xlsx")


def test_a_samples_x_genes_matrix_is_read_transposed(tmp_path):
    paths, _ = build(tmp_path)
    genes_first = load(paths)
    table = pd.read_csv(paths["expression"], sep="\t").set_index("gene_id").T
    table.index.name = "sample"
    table.to_csv(paths["expression"], sep="\t")
    cohort = load(paths)
    pd.testing.assert_frame_equal(cohort.expression, genes_first.expression, check_names=False)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "compute", *args], capture_output=True, text=True)


def test_cli_validate_prints_summary(tmp_path):
    paths, _ = build(tmp_path)
    result = run_cli("validate", "--fasta", str(paths["fasta"]), "--vcf", str(paths["vcf"]), "--genes",
                     str(paths["genes"]), "--expression", str(paths["expression"]), "--window", str(WINDOW))
    assert result.returncode == 0, result.stderr
    assert "people: 5 in both files" in result.stdout and "indels skipped: 1" in result.stdout


def test_cli_validate_bad_input_exits_2_with_one_line(tmp_path):
    paths, _ = build(tmp_path, genes=[("ENSG1", "A", "22", 500, "x")])
    result = run_cli("validate", "--fasta", str(paths["fasta"]), "--vcf", str(paths["vcf"]), "--genes",
                     str(paths["genes"]), "--expression", str(paths["expression"]))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "expected strand" in lines[0]


def test_versioned_gene_ids_match_when_unambiguous(tmp_path):
    paths, _ = build(tmp_path)
    table = pd.read_csv(paths["expression"], sep="\t")
    table["gene_id"] = ["ENSG1.16", "ENSG2", "ENSG3.2"]  # a versioned release against an unversioned GTF
    table.to_csv(paths["expression"], sep="\t", index=False)
    cohort = load(paths)
    assert cohort.genes["gene_id"].tolist() == ["ENSG1", "ENSG2", "ENSG3"]
    assert cohort.versions_matched == {"ENSG1.16": "ENSG1", "ENSG3.2": "ENSG3"}
    expected = table.set_index("gene_id").loc["ENSG1.16", cohort.people].to_numpy(float)
    np.testing.assert_array_equal(cohort.observed("ENSG1"), expected)
    assert "2 matched without their version suffix, e.g. ENSG1.16 -> ENSG1" in cohort.summary()
    # two versions of one gene: which one is meant is not known, so neither is matched (reported)
    table = pd.concat([table, table.iloc[[0]].assign(gene_id="ENSG1.17")], ignore_index=True)
    table.to_csv(paths["expression"], sep="\t", index=False)
    cohort = load(paths)
    assert "ENSG1" not in set(cohort.genes["gene_id"]) and cohort.versions_matched == {"ENSG3.2": "ENSG3"}
    assert {"ENSG1.16", "ENSG1.17"} <= set(cohort.expression_without_gene)


def test_a_sample_map_names_expression_samples_by_their_vcf_sample(tmp_path):
    """GTEx: expression columns are tissue samples (GTEX-1117F-0226-SM-5GZZ7), the VCF's participants."""
    paths, _ = build(tmp_path)
    plain = load(paths)
    table = pd.read_csv(paths["expression"], sep="\t")
    tissue = {s: f"GTEX-{s}-0226-SM-{k}" for k, s in enumerate(SAMPLES)}
    table.rename(columns=tissue).to_csv(paths["expression"], sep="\t", index=False)
    assert "no sample ID matches the VCF" in error_of(paths)
    sample_map = tmp_path / "samples.tsv"
    sample_map.write_text("SAMPID\tSUBJID\n" + "".join(f"{t}\t{s}\n" for s, t in tissue.items()))
    cohort = load(paths, sample_map=sample_map)
    assert cohort.people == plain.people and cohort.samples_mapped == len(SAMPLES)
    pd.testing.assert_frame_equal(cohort.expression, plain.expression)
    assert f"{len(SAMPLES)} expression samples named by their VCF sample" in cohort.summary()
    # two tissue samples of one participant: which to use is the user's choice, so refused
    table = table.rename(columns=tissue)
    table["GTEX-S1-0999-SM-X"] = table[tissue["S1"]]
    table.to_csv(paths["expression"], sep="\t", index=False)
    with open(sample_map, "a") as fh:
        fh.write("GTEX-S1-0999-SM-X\tS1\n")
    message = error_of(paths, sample_map=sample_map)
    assert "samples.tsv: expression samples GTEX-S1-0226-SM-0 and GTEX-S1-0999-SM-X both map to S1" in message
    sample_map.write_text("just-one-column\n")
    assert "samples.tsv: line 1: expected two tab-separated fields" in error_of(paths, sample_map=sample_map)
