"""Demo cohort recipe: a reduced build (120 people) checked with bcftools, pyfaidx,
cyvcf2, scipy and statsmodels against the real data it is built from and its ground truth."""

import csv
import gzip
import json
import subprocess
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import pyfaidx
import pytest
from cyvcf2 import VCF
from scipy import stats

# statsmodels.api does not import with pandas 3.1 (statsmodels 0.14.5): take OLS from its module
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from compute.cli import main
from compute.demo import build_demo_inputs
from compute.demo.genotypes import (
    OOA_PARAMETERS,
    ooa_demography,
    read_dbsnp,
    read_genetic_map,
    recombination_map,
)
from compute.demo.reference import CHROM_LENGTH, SLICE_START, read_slice
from compute.errors import InputError

N_PEOPLE = 120
WINDOW = 196_608


@pytest.fixture(scope="module")
def build(tmp_path_factory, external_data):
    out = tmp_path_factory.mktemp("demo")
    return build_demo_inputs(out, n_people=N_PEOPLE, seed=11, external=external_data)


@pytest.fixture(scope="module")
def summary(build):
    return json.loads(build["summary"].read_text())


@pytest.fixture(scope="module")
def cohort(build):
    """Positions, IDs, REF, ALTs and ALT-1 dosage (n_sites, n_people) read back with cyvcf2."""
    rows, dosage, phased, missing = [], [], True, 0
    vcf = VCF(str(build["vcf"]))
    samples = list(vcf.samples)
    for v in vcf:
        gt = np.array([g[:2] for g in v.genotypes])
        phased &= all(g[2] for g in v.genotypes)
        missing += int((gt < 0).sum())
        rows.append({"pos": v.POS, "id": v.ID, "ref": v.REF, "alts": list(v.ALT)})
        dosage.append((gt == 1).sum(axis=1))
    return {
        "sites": pd.DataFrame(rows),
        "dosage": np.array(dosage, dtype=float),
        "samples": samples,
        "phased": phased,
        "missing": missing,
    }


@pytest.fixture(scope="module")
def expression(build):
    return pd.read_csv(build["expression"], sep="\t", index_col="gene_id")


@pytest.fixture(scope="module")
def truth(build):
    return pd.read_csv(build["truth"], sep="\t", dtype={"gene_id": str})


def window_rows(sites: pd.DataFrame, tss: int) -> np.ndarray:
    pos = sites["pos"].to_numpy()
    return np.flatnonzero((pos >= tss - WINDOW // 2) & (pos <= tss + WINDOW // 2 - 1))


def test_builds_are_byte_identical(build, tmp_path, external_data):
    again = build_demo_inputs(tmp_path, n_people=N_PEOPLE, seed=11, external=external_data)
    assert again.keys() == build.keys()
    first, second = sorted(build["vcf"].parent.iterdir()), sorted(tmp_path.iterdir())
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_another_seed_gives_another_cohort(build, tmp_path, external_data):
    other = build_demo_inputs(tmp_path, n_people=20, seed=12, end=20_100_000, external=external_data)
    assert other["vcf"].read_bytes() != build["vcf"].read_bytes()


def test_fasta_holds_the_slice_at_real_coordinates(build, external_data):
    slice_seq = read_slice(external_data / "22_20-21M.fa")
    first_line = (external_data / "22_20-21M.fa").read_text().splitlines()[1]
    # pyfaidx 0.8.1.4 reads a BGZF record from its start on every fetch: fetch once
    fasta = pyfaidx.Fasta(str(build["fasta"]))
    assert list(fasta.keys()) == ["22"] and len(fasta["22"]) == CHROM_LENGTH
    around = str(fasta["22"][19_999_990:21_000_010])
    assert around[10:70] == first_line
    assert around == "N" * 10 + slice_seq + "N" * 10
    # the whole record, read as plain gzip: N, the slice at 20,000,001, N to the chromosome end
    text = gzip.decompress(build["fasta"].read_bytes()).decode()
    header, _, body = text.partition("\n")
    assert header.split()[0] == ">22"
    lines = body.splitlines()
    assert all(len(line) == 60 for line in lines[:-1]) and 0 < len(lines[-1]) <= 60
    bases = "".join(lines)
    assert len(bases) == CHROM_LENGTH
    assert bases[20_000_000:21_000_000] == slice_seq
    assert set(bases[:20_000_000]) == {"N"} and set(bases[21_000_000:]) == {"N"}
    assert build["fasta"].stat().st_size < 600_000  # the 50 Mb of N compress to almost nothing


def test_vcf_reads_with_bcftools_and_its_index(build, summary):
    vcf = str(build["vcf"])
    records = subprocess.run(["bcftools", "view", "-H", vcf], capture_output=True, text=True, check=True)
    n = len(records.stdout.splitlines())
    assert n == summary["n_sites"] > 1000
    region = subprocess.run(
        ["bcftools", "view", "-H", "-r", "22:20500001-20600000", vcf],
        capture_output=True,
        text=True,
        check=True,
    )
    pos = [int(line.split("\t")[1]) for line in region.stdout.splitlines()]
    assert pos and all(20_500_001 <= p <= 20_600_000 for p in pos)
    sn = subprocess.run(["bcftools", "stats", vcf], capture_output=True, text=True, check=True).stdout
    counts = {f[2]: int(f[3]) for f in (line.split("\t") for line in sn.splitlines()) if f[0] == "SN"}
    assert counts["number of samples:"] == N_PEOPLE
    assert counts["number of SNPs:"] == n and counts["number of indels:"] == 0
    assert counts["number of multiallelic SNP sites:"] == summary["n_multiallelic"] > 0


def test_ref_alleles_agree_with_the_fasta(build, cohort, tmp_path):
    fasta, vcf = str(build["fasta"]), str(build["vcf"])
    subprocess.run(
        ["bcftools", "norm", "--check-ref", "e", "-f", fasta, "-Ou", "-o", "/dev/null", vcf], check=True
    )
    seq = str(pyfaidx.Fasta(fasta)["22"][SLICE_START - 1 : 21_000_000])
    sites = cohort["sites"]
    assert all(seq[p - SLICE_START] == r for p, r in zip(sites["pos"], sites["ref"], strict=True))
    # the check can fail: the same VCF with one REF changed
    text = gzip.decompress(build["vcf"].read_bytes()).decode().splitlines()
    k = next(i for i, line in enumerate(text) if not line.startswith("#"))
    fields = text[k].split("\t")
    fields[3] = next(b for b in "ACGT" if b != fields[3] and b not in fields[4].split(","))
    text[k] = "\t".join(fields)
    bad = tmp_path / "bad.vcf"
    bad.write_text("\n".join(text) + "\n")
    checked = subprocess.run(
        ["bcftools", "norm", "--check-ref", "e", "-f", fasta, str(bad)], capture_output=True
    )
    assert checked.returncode != 0


def test_genotypes_are_phased_complete_biallelic_snvs_mostly(cohort, summary):
    assert cohort["samples"] == [f"DEMO{i:04d}" for i in range(1, N_PEOPLE + 1)]
    assert cohort["phased"] and cohort["missing"] == 0
    sites = cohort["sites"]
    assert sites["pos"].is_monotonic_increasing and sites["pos"].is_unique
    assert all(len(a) == 1 for alts in sites["alts"] for a in alts)
    n_alts = sites["alts"].map(len)
    assert (n_alts > 1).sum() == summary["n_multiallelic"]
    # the first ALT is the most common one: its dosage is never zero
    assert (cohort["dosage"].sum(axis=1) > 0).all()


def test_no_site_falls_on_an_n_base(cohort, external_data):
    seq = read_slice(external_data / "22_20-21M.fa")
    assert all(seq[p - SLICE_START] != "N" for p in cohort["sites"]["pos"])


def test_dbsnp_offsets_are_zero_based_and_alleles_are_alt(external_data):
    seq = read_slice(external_data / "22_20-21M.fa")
    snp = read_dbsnp(external_data / "22_20-21M.snp", SLICE_START)
    base = np.array([seq[p - SLICE_START] for p in snp["pos"]])
    assert len(snp) == 3174
    assert snp.groupby("pos")["rsid"].nunique().max() == 1
    assert (base != snp["alt"].to_numpy()).all()  # the listed allele is never the reference base
    shifted = np.array([seq[p - SLICE_START + 1] for p in snp["pos"]])
    assert (shifted == snp["alt"].to_numpy()).mean() > 0.1  # while one base off, it often is


def test_rsids_named_where_dbsnp_has_the_position_and_allele(cohort, summary, external_data):
    snp = read_dbsnp(external_data / "22_20-21M.snp", SLICE_START)
    rsid = dict(zip(snp["pos"], snp["rsid"], strict=False))  # one rsID per position, ALTs on rows
    alts = snp.groupby("pos")["alt"].agg(set).to_dict()
    named = 0
    for site in cohort["sites"].itertuples():
        if alts.get(site.pos, set()) & set(site.alts):
            assert site.id == rsid[site.pos]
            named += 1
        else:
            assert site.id == f"22:{site.pos}:{site.ref}:{site.alts[0]}"
    assert named == summary["n_dbsnp_ids"] > 0


def test_allele_frequencies_look_human(cohort, external_data):
    dosage = cohort["dosage"]
    n_hap = 2 * N_PEOPLE
    count = dosage.sum(axis=1)
    minor = np.minimum(count, n_hap - count)
    # many rare variants: a decreasing folded spectrum, over half the sites below 5 %
    sfs = np.bincount(minor.astype(int), minlength=4)
    assert sfs[1] > sfs[2] > sfs[3]
    assert (minor / n_hap < 0.05).mean() > 0.5
    # nucleotide diversity per base of known sequence, European-like (about 8e-4)
    p = count / n_hap
    known = 1_000_000 - read_slice(external_data / "22_20-21M.fa").count("N")
    pi = (2 * p * (1 - p) * n_hap / (n_hap - 1)).sum() / known
    assert 4e-4 < pi < 1.6e-3


def test_genes_are_refseq_tss_in_the_slice(build, summary, external_data):
    genes = pd.read_csv(build["genes"], sep="\t", dtype={"gene_id": str, "chrom": str})
    assert list(genes.columns) == ["gene_id", "gene_name", "chrom", "tss", "strand"]
    assert len(genes) == summary["n_genes"] == 25 and genes["gene_id"].is_unique
    # independent TSS: most upstream exon base per Entrez gene, read with csv
    tss: dict[str, tuple[int, str]] = {}
    with gzip.open(external_data / "hg19_RefSeq_exon.txt.gz", "rt") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["Chr"] != "chr22":
                continue
            here = int(row["Start"]) if row["Strand"] == "+" else int(row["End"])
            old = tss.get(row["GeneID"])
            best = here if old is None else (min if row["Strand"] == "+" else max)(old[0], here)
            tss[row["GeneID"]] = (best, row["Strand"])
    in_slice = {g for g, (t, _) in tss.items() if 20_000_001 <= t <= 21_000_000}
    assert len(in_slice) == len(genes) + summary["n_genes_discontinued_entrez"]
    ranbp1 = genes.set_index("gene_name").loc["RANBP1"]
    assert ranbp1["gene_id"] == "ENSG00000099901" and (ranbp1["tss"], ranbp1["strand"]) == tss["5902"]
    assert (genes["chrom"] == "22").all() and genes["tss"].between(20_000_001, 21_000_000).all()


def test_expression_matrix_matches_the_vcf_people(build, expression, cohort):
    genes = pd.read_csv(build["genes"], sep="\t", dtype={"gene_id": str})
    assert list(expression.columns) == cohort["samples"]
    assert list(expression.index) == list(genes["gene_id"])
    assert np.isfinite(expression.to_numpy()).all()


def test_scenarios_cover_the_four_cases(truth, summary):
    per_gene = truth.drop_duplicates("gene_id")["scenario"].value_counts().to_dict()
    assert per_gene == summary["scenarios"]
    assert all(per_gene.get(s, 0) >= 3 for s in ("near_tss", "several", "ld_block", "none"))
    near = truth[truth["scenario"] == "near_tss"]
    assert (near["tss_distance"].abs() <= 1000).all() and (near["tss_distance"].abs() <= 100).any()
    several = truth[truth["scenario"] == "several"].groupby("gene_id").size()
    assert (several == 3).all()
    assert truth["variant_id"].dropna().is_unique  # a causal SNV drives one gene only


def eqtl(expression_row: np.ndarray, dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|r| and p of scipy linregress of expression on each SNV's dosage."""
    fits = [stats.linregress(g, expression_row) for g in dosage]
    return np.abs([f.rvalue for f in fits]), np.array([f.pvalue for f in fits])


def scenario_eqtls(build, truth, expression, cohort, scenario):
    """(truth row, window SNV rows that vary, |r|, p) for each gene of one scenario."""
    genes = pd.read_csv(build["genes"], sep="\t", dtype={"gene_id": str}).set_index("gene_id")
    sites = cohort["sites"]
    for row in truth[truth["scenario"] == scenario].itertuples():
        rows = window_rows(sites, int(genes.loc[row.gene_id, "tss"]))
        rows = rows[cohort["dosage"][rows].std(axis=1) > 0]
        yield row, rows, *eqtl(expression.loc[row.gene_id].to_numpy(), cohort["dosage"][rows])


def test_near_tss_causal_snv_is_the_strongest_eqtl(build, truth, expression, cohort):
    ids = cohort["sites"]["id"].to_numpy()
    for row, rows, r, _ in scenario_eqtls(build, truth, expression, cohort, "near_tss"):
        causal = int(np.flatnonzero(ids[rows] == row.variant_id)[0])
        assert r[causal] >= r.max() - 1e-12, row.gene_name


def test_no_cis_signal_passes_bonferroni(build, truth, expression, cohort):
    for row, rows, _, p in scenario_eqtls(build, truth, expression, cohort, "none"):
        assert p.min() > 0.05 / len(rows), row.gene_name


def test_heritability_and_effects_as_set(truth, expression, cohort):
    ids = cohort["sites"]["id"].to_numpy()
    for gene_id, rows in truth[truth["scenario"] != "none"].groupby("gene_id"):
        y = expression.loc[gene_id].to_numpy()
        g = np.array([cohort["dosage"][np.flatnonzero(ids == v)[0]] for v in rows["variant_id"]]).T
        fit = OLS(y, add_constant(g)).fit()
        h2 = rows["h2_target"].iloc[0]
        assert abs(fit.rsquared - h2) < 0.2, gene_id  # 120 people: R^2 varies by about 0.06
        # the causal SNVs span the genetic values: R^2 is their squared correlation with y, plus
        # what the free per-SNV slopes fit of the noise (about (k - 1) / n)
        realized = rows["h2_realized"].iloc[0]
        assert realized - 1e-4 <= fit.rsquared <= realized + 0.05, gene_id
        if len(rows) == 1:
            assert fit.rsquared == pytest.approx(realized, abs=1e-4), gene_id
        assert np.allclose(fit.params[1:], rows["beta"], atol=4 * fit.bse[1:].max()), gene_id
        genetic = g @ rows["beta"].to_numpy()
        assert np.corrcoef(genetic, y)[0, 1] ** 2 == pytest.approx(realized, abs=1e-4), gene_id
        residual = y - rows["baseline"].iloc[0] - genetic
        assert residual.std() == pytest.approx(rows["noise_sd"].iloc[0], rel=0.2)


def test_ld_block_causal_snvs_have_many_strong_ld_partners(build, truth, cohort):
    genes = pd.read_csv(build["genes"], sep="\t", dtype={"gene_id": str}).set_index("gene_id")
    sites, dosage = cohort["sites"], cohort["dosage"]
    for row in truth[truth["scenario"] == "ld_block"].itertuples():
        rows = window_rows(sites, int(genes.loc[row.gene_id, "tss"]))
        rows = rows[dosage[rows].std(axis=1) > 0]
        causal = dosage[np.flatnonzero(sites["id"].to_numpy() == row.variant_id)[0]]
        r2 = np.array([np.corrcoef(causal, dosage[k])[0, 1] ** 2 for k in rows])
        assert (r2 >= 0.8).sum() - 1 == row.n_ld_partners >= 5, row.gene_name


def test_demography_is_the_gutenkunst_model_msprime_documents():
    reference = msprime.Demography._ooa_model()
    assert ooa_demography().is_equivalent(reference, rel_tol=1e-9)
    assert OOA_PARAMETERS["N_CEU_start"] == 1000 and OOA_PARAMETERS["T_OOA_years"] == 21.2e3


def test_recombination_map_follows_the_cm_map(external_data):
    gmap = read_genetic_map(external_data / "shapeit4" / "genetic_maps.b37.tar.gz")
    rates = recombination_map(gmap, 20_000_001, 21_000_000)
    assert rates.sequence_length == 1_000_000
    inside = gmap[(gmap["pos"] > 20_000_001) & (gmap["pos"] < 21_000_001)]
    first = np.interp(20_000_001, gmap["pos"], gmap["cM"])
    mass = rates.get_cumulative_mass(inside["pos"].to_numpy() - 20_000_001)
    assert np.allclose(mass * 100, inside["cM"].to_numpy() - first)
    assert 0.1 < rates.total_mass * 100 < 10  # cM over 1 Mb


def test_missing_sources_and_bad_regions_are_input_errors(tmp_path, external_data):
    with pytest.raises(InputError, match="22_20-21M.fa: missing"):
        build_demo_inputs(tmp_path, external=tmp_path)
    with pytest.raises(InputError, match="start < end"):
        build_demo_inputs(tmp_path, start=19_000_000, external=external_data)
    bad = tmp_path / "bad.fa"
    bad.write_text(">chr22\nACGT\n")
    with pytest.raises(InputError, match="line 1: expected the header '>22:20000001-21000000'"):
        read_slice(bad)


def test_cli_simulate(tmp_path, capsys):
    assert main(["demo", "simulate", str(tmp_path / "d"), "--people", "10", "--end", "20150000"]) == 0
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert set(printed) == {"fasta", "vcf", "genes", "expression", "truth", "summary"}
    assert all(Path(p).exists() for p in printed.values())
    assert main(["demo", "simulate", str(tmp_path / "e"), "--people", "1"]) == 2
    assert "expected 2 to 9999 people" in capsys.readouterr().err
