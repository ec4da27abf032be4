"""Personal haplotypes against `bcftools consensus -H 1` / `-H 2`, byte for byte."""

import gzip
import subprocess
import sys

import numpy as np
import pytest
import torch
from cohort_files import bcftools_consensus, simulated_cohort, snvs_only, write_fasta

from compute.cohort.haplotypes import (
    personal_haplotypes,
    unique_haplotypes,
    unique_rows,
    window_variants,
    write_haplotype_fasta,
)
from compute.cohort.reference import Reference, decode, encode, gene_window, one_hot


def test_encode_decode():
    tokens = encode("ACGTNacgtnRYK-")
    assert tokens.dtype == np.uint8
    assert tokens.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4, 4, 4]
    assert decode(tokens) == "ACGTNACGTNNNNN"
    assert decode(encode(b"GATTACA")) == "GATTACA"


def test_gene_window_puts_tss_at_index_half_length():
    start0, end0 = gene_window(98_305)
    assert (start0, end0) == (0, 196_608)
    start0, end0 = gene_window(1_000, length=100)
    assert end0 - start0 == 100 and 1_000 - 1 - start0 == 50


def test_one_hot_matches_enformer_pytorch():
    from enformer_pytorch.data import seq_indices_to_one_hot, str_to_one_hot

    seq = "ACGTNNGCAtgca"
    tokens = np.stack([encode(seq), encode(seq[::-1])])
    expected = seq_indices_to_one_hot(torch.from_numpy(tokens).long())
    for given in (tokens, torch.from_numpy(tokens), torch.from_numpy(tokens).long()):
        ours = one_hot(given)
        assert ours.dtype == torch.float32 and ours.shape == (2, len(seq), 4)
        assert torch.equal(ours, expected)
    assert torch.equal(one_hot(tokens)[0], str_to_one_hot(seq))
    assert one_hot(tokens)[0, 4].sum() == 0 and one_hot(tokens)[0, 0].tolist() == [1, 0, 0, 0]


@pytest.fixture(scope="module")
def chr20(tmp_path_factory, external_data):
    """1000 Genomes phased chr20 (shapeit4 example) on a synthetic chr20 FASTA.

    No chr20 reference is available offline, so the FASTA is random sequence with
    the VCF REF base written at every SNV record; bcftools and our code both
    apply the real phased genotypes to it.
    """
    tmp = tmp_path_factory.mktemp("chr20")
    vcf = external_data / "shapeit4" / "reference.vcf.gz"
    length = 1_200_000
    rng = np.random.default_rng(20)
    seq = bytearray(decode(rng.integers(0, 4, length, dtype=np.uint8)).encode())
    snvs = snvs_only(vcf, tmp / "snvs.vcf.gz", region=f"20:1-{length}")
    table = subprocess.run(["bcftools", "query", "-f", "%POS\t%REF\n", str(snvs)],
                           capture_output=True, text=True, check=True).stdout
    for line in table.splitlines():
        pos, ref = line.split("\t")
        seq[int(pos) - 1] = ord(ref)
    fasta = write_fasta(tmp / "chr20.fa", {"20": seq.decode()})
    return dict(vcf=vcf, snvs=snvs, fasta=fasta, seq=seq.decode(), tmp=tmp)


def test_real_1000_genomes_haplotypes_match_bcftools(chr20):
    reference = Reference(chr20["fasta"])
    start0, end0 = gene_window(1_100_000)
    people = ["HG00096", "HG00101", "NA12878", "HG00733"]
    people = [p for p in people if p in _samples(chr20["vcf"])][:3] + ["HG00097"]
    wv = window_variants(chr20["vcf"], "20", start0, end0, people, reference=reference)
    assert wv.n_snvs > 1000 and wv.counts.indels > 0  # real window: many SNVs, indels skipped
    region = {f"20:{start0 + 1}-{end0}": chr20["seq"][start0:end0]}
    region_fa = write_fasta(chr20["tmp"] / "region.fa", region)
    ref_tokens = reference.tokens("20", start0, end0)
    n_differ = 0
    for persons, haps, tokens in personal_haplotypes(ref_tokens, wv, start0, batch_size=3):
        for p, h, row in zip(persons, haps, tokens, strict=True):
            expected = bcftools_consensus(region_fa, chr20["snvs"], people[p], h + 1)
            assert decode(row) == expected, f"{people[p]} hap{h + 1}"
            n_differ += decode(row) != decode(ref_tokens)
    assert n_differ == 2 * len(people)  # every haplotype carries some ALT, so the check has teeth


def test_bcf_reads_like_vcf(chr20, external_data, tmp_path):
    # Debian gzips the package's reference.bcf (plain gzip, not BGZF) and keeps its index as is.
    source = external_data / "shapeit4"
    bcf = tmp_path / "reference.bcf"
    bcf.write_bytes(gzip.decompress((source / "reference.bcf.gz").read_bytes()))
    (tmp_path / "reference.bcf.csi").symlink_to(source / "reference.bcf.csi")
    start0, end0 = gene_window(2_000_000, length=50_000)
    people = _samples(chr20["vcf"])[:40]
    from_vcf = window_variants(chr20["vcf"], "20", start0, end0, people)
    from_bcf = window_variants(bcf, "20", start0, end0, people)
    assert from_vcf.n_snvs > 100
    assert from_vcf.variants.equals(from_bcf.variants)
    assert np.array_equal(from_vcf.alleles, from_bcf.alleles)


def test_cohort_on_real_genotypes(chr20, tmp_path):
    """load_cohort over 30 genes on the real chr20 genotypes: SNVs per window agree with bcftools."""
    from compute.cohort.inputs import load_cohort

    people = _samples(chr20["vcf"])
    tss = list(range(1_050_000, 1_050_000 + 30 * 3_000, 3_000))
    genes = tmp_path / "genes.tsv"
    genes.write_text("gene_id\tgene_name\tchrom\ttss\tstrand\n"
                     + "".join(f"G{i}\tG{i}\t20\t{t}\t+\n" for i, t in enumerate(tss)))
    expression = tmp_path / "expression.tsv"
    expression.write_text("gene_id\t" + "\t".join(people[::-1]) + "\n"
                          + "".join(f"G{i}\t" + "\t".join(["1.5"] * len(people)) + "\n" for i in range(30)))
    cohort = load_cohort(chr20["fasta"], chr20["vcf"], genes, expression, window=20_000)
    assert cohort.people == people
    for i in (0, 17, 29):
        start0, end0 = gene_window(tss[i], 20_000)
        region = f"20:{start0 + 1}-{end0}"
        count = subprocess.run(["bcftools", "view", "-H", "-r", region, str(chr20["snvs"])],
                               capture_output=True, text=True, check=True).stdout.count("\n")
        assert cohort.genes["n_snvs"].iloc[i] == count > 50


def _samples(vcf):
    out = subprocess.run(["bcftools", "query", "-l", str(vcf)], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture
def cohort(tmp_path):
    return simulated_cohort(tmp_path)


@pytest.mark.parametrize("chrom,tss", [("chrA", 1500), ("chrA", 2900), ("chrB", 40)])
def test_simulated_haplotypes_match_bcftools(cohort, tmp_path, chrom, tss):
    """Random reference and genotypes with multi-allelic records and missing calls (read as REF,
    as bcftools does); windows at 2900 and 40 run off the chromosome and are N-padded."""
    window = 1000
    start0, end0 = gene_window(tss, window)
    reference = Reference(cohort["fasta"])
    people = cohort["samples"]
    wv = window_variants(cohort["vcf"], chrom, start0, end0, people, missing="reference", reference=reference)
    snvs = snvs_only(cohort["vcf"], tmp_path / "snvs.vcf.gz")
    length = cohort["contigs"][chrom]
    lo, hi = max(start0, 0), min(end0, length)
    region_fa = write_fasta(tmp_path / "region.fa", {f"{chrom}:{lo + 1}-{hi}": cohort["seqs"][chrom][lo:hi]})
    ref_tokens = reference.tokens(chrom, start0, end0)
    assert len(ref_tokens) == window
    for persons, haps, tokens in personal_haplotypes(ref_tokens, wv, start0, batch_size=7):
        assert tokens.shape[0] <= 7 and tokens.dtype == np.uint8
        for p, h, row in zip(persons, haps, tokens, strict=True):
            seq = decode(row)
            expected = bcftools_consensus(region_fa, snvs, people[p], h + 1)
            assert seq[lo - start0 : hi - start0] == expected, f"{people[p]} hap{h + 1}"
            assert set(seq[: lo - start0] + seq[hi - start0 :]) <= {"N"}
            assert len(seq[: lo - start0] + seq[hi - start0 :]) == window - (hi - lo)


def test_records_at_one_position_first_carried_wins_like_bcftools(tmp_path):
    from cohort_files import write_vcf

    seq = "AAAAAAAAAACCCCCCCCCC"
    fasta = write_fasta(tmp_path / "ref.fa", {"c": seq})
    rows = [("c", 2, "a", "A", "G", ["1|0", "0|0"]), ("c", 2, "b", "A", "T", ["1|1", "0|1"]),
            ("c", 3, "c", "A", "C", ["0|1", "1|1"]), ("c", 3, "d", "A", "T", ["0|1", "0|0"])]
    vcf = write_vcf(tmp_path / "dup.vcf.gz", ["s1", "s2"], rows, {"c": 20})
    region_fa = write_fasta(tmp_path / "region.fa", {"c:1-20": seq})
    wv = window_variants(vcf, "c", 0, 20, ["s1", "s2"], reference=Reference(fasta))
    tokens = np.concatenate([t for _, _, t in personal_haplotypes(encode(seq), wv, 0)])
    for k, (person, hap) in enumerate([("s1", 1), ("s1", 2), ("s2", 1), ("s2", 2)]):
        assert decode(tokens[k]) == bcftools_consensus(region_fa, vcf, person, hap), (person, hap)
    assert decode(tokens[1]).startswith("ATC")


def test_window_variants_table_dosage_and_multiallelic(cohort):
    rows = [r for r in cohort["rows"] if r[0] == "chrA" and 1000 <= r[1] <= 2000]
    wv = window_variants(cohort["vcf"], "chrA", 999, 2000, cohort["samples"], missing="reference")
    snv_rows = [r for r in rows if len(r[3]) == 1 and all(len(a) == 1 for a in r[4].split(","))]
    assert wv.n_snvs == len(snv_rows)
    assert wv.counts.indels == len(rows) - len(snv_rows)
    assert wv.counts.multiallelic == sum("," in r[4] for r in snv_rows) > 0
    assert wv.alleles.shape == (len(cohort["samples"]), 2, len(snv_rows))
    for v, (_, pos, vid, ref, alt, gts) in enumerate(snv_rows):
        calls = np.array([[int(a) if a != "." else 0 for a in gt.replace("/", "|").split("|")] for gt in gts])
        alts = alt.split(",")
        carriers = [(calls == k + 1).sum() for k in range(len(alts))]
        kept = int(np.argmax(carriers)) + 1
        row = wv.variants.iloc[v]
        assert (row["variant_id"], row["pos"], row["ref"], row["alt"]) == (vid, pos, ref, alts[kept - 1])
        assert np.array_equal(wv.dosage[:, v], (calls == kept).sum(1))
        assert np.array_equal(wv.codes[:, :, v], calls)
        assert row["alt_freq"] == pytest.approx((calls == kept).mean())
        assert row["maf"] == pytest.approx(min(row["alt_freq"], 1 - row["alt_freq"]))
    n_missing = sum(gt.count(".") > 0 for r in snv_rows for gt in r[5])
    assert wv.counts.missing == n_missing > 0


def test_unique_haplotypes_reconstruct_every_haplotype(cohort):
    wv = window_variants(cohort["vcf"], "chrA", 1400, 1500, cohort["samples"], missing="reference")
    unique_rows, inverse = unique_haplotypes(wv.codes)
    flat = wv.codes.reshape(-1, wv.n_snvs)
    assert 1 <= wv.n_snvs <= 4 and len(unique_rows) < len(flat)  # few SNVs: identical haplotypes exist
    assert np.array_equal(unique_rows[inverse], flat)
    empty = window_variants(cohort["vcf"], "chrA", 0, 3, cohort["samples"], missing="reference")
    unique_rows, inverse = unique_haplotypes(empty.codes)
    assert unique_rows.shape == (1, 0) and not inverse.any()


def test_unique_rows_are_numpys_unique_rows():
    """The same distinct rows in the same order, and the same inverse, as np.unique(axis=0)."""
    rng = np.random.default_rng(0)
    for n_rows, width, high in ((1678, 2000, 2), (300, 7, 4), (40, 1, 2)):
        flat = rng.integers(0, high, (n_rows, width), dtype=np.uint8)
        flat[::3] = flat[1]  # duplicates
        rows, inverse = unique_rows(flat)
        expected_rows, expected_inverse = np.unique(flat, axis=0, return_inverse=True)
        assert rows.dtype == np.uint8 and np.array_equal(rows, expected_rows)
        assert np.array_equal(inverse, expected_inverse.reshape(-1))
    wide = rng.integers(0, 3, (50, 4), dtype=np.int64)  # not uint8: numpy's own
    assert np.array_equal(unique_rows(wide)[0], np.unique(wide, axis=0))


def test_batches_cover_every_haplotype_once(cohort):
    reference = Reference(cohort["fasta"])
    wv = window_variants(cohort["vcf"], "chrA", 0, 3000, cohort["samples"], missing="reference")
    ref_tokens = reference.tokens("chrA", 0, 3000)
    seen = []
    for persons, haps, tokens in personal_haplotypes(ref_tokens, wv, 0, batch_size=5):
        assert len(tokens) <= 5
        seen += list(zip(persons.tolist(), haps.tolist(), strict=True))
    assert seen == [(p, h) for p in range(len(cohort["samples"])) for h in (0, 1)]


def test_write_haplotype_fasta_matches_bcftools(cohort, tmp_path):
    out = tmp_path / "haps.fa"
    people = cohort["samples"][:3]
    n = write_haplotype_fasta(cohort["fasta"], cohort["vcf"], "chrB:101-400", out, samples=people,
                              missing="reference")
    assert n == 6
    records, name = {}, None
    for line in out.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:]
            records[name] = ""
        else:
            records[name] += line
    assert list(records) == [f"{p}_hap{h}" for p in people for h in (1, 2)]
    snvs = snvs_only(cohort["vcf"], tmp_path / "snvs.vcf.gz")
    region_fa = write_fasta(tmp_path / "region.fa", {"chrB:101-400": cohort["seqs"]["chrB"][100:400]})
    for p in people:
        for h in (1, 2):
            assert records[f"{p}_hap{h}"] == bcftools_consensus(region_fa, snvs, p, h)


def test_cli_haplotypes(cohort, tmp_path):
    out = tmp_path / "cli.fa"
    result = subprocess.run(
        [sys.executable, "-m", "compute", "haplotypes", "--fasta", str(cohort["fasta"]), "--vcf",
         str(cohort["vcf"]), "--region", "chrA:2951-3050", "--out", str(out), "--samples", "P01",
         "--missing", "reference"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert [ln for ln in lines if ln.startswith(">")] == [">P01_hap1", ">P01_hap2"]
    hap1 = "".join(lines[1:3])
    assert len(hap1) == 100 and hap1.endswith("N" * 50) and "N" not in hap1[:50]
