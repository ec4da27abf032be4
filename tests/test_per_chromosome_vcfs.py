"""Per-chromosome genotype releases (1000 Genomes, many biobanks): `--vcf 'cohort.{chrom}.vcf.gz'`
reads each chromosome from its own file and gives the store one file gives; a chromosome without a
file has genes without SNVs (reported); files whose samples differ are refused, naming the file."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pandas as pd
import pytest

from compute.cohort.inputs import load_cohort
from compute.errors import InputError
from compute.run.pipeline import precompute
from compute.store import ResultsStore
from tests.cohort_files import files_for, read_store, settings_for, simulated_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("cohort")
    c = simulated_cohort(base, seed=5, n_people=10)
    for chrom in ("chrA", "chrB"):
        out = base / f"cohort.{chrom}.vcf.gz"
        subprocess.run(["bcftools", "view", "-r", chrom, "-Oz", "-o", str(out), str(c["vcf"])], check=True)
        subprocess.run(["bcftools", "index", "-t", "-f", str(out)], check=True)
    c["template"] = base / "cohort.{chrom}.vcf.gz"
    return c


def load(c: dict, vcf) -> object:
    return load_cohort(c["fasta"], vcf, c["genes"], c["expression"], window=2048, missing="reference")


def test_one_file_per_chromosome_gives_the_store_one_file_gives(cohort, tiny_weights, tmp_path):
    one = precompute(files_for(cohort), settings_for(tiny_weights), tmp_path / "one", progress=False)
    files = replace(files_for(cohort), vcf=str(cohort["template"]))
    split = precompute(files, settings_for(tiny_weights), tmp_path / "split", progress=False)
    a, b = read_store(one.path), read_store(split.path)
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    recorded = ResultsStore(split.path).manifest["inputs"]["vcf"]
    assert recorded["path"] == str(cohort["template"]) and len(recorded["files"]) == 2
    assert all(entry["sha256"] for entry in recorded["files"].values())
    # a gene on demand reads the files the manifest records, checked unchanged
    from compute.run.on_demand import compute_genes

    assert compute_genes(split.path, ["G3"], device="cpu", batch_size=8) == {"G3": None}
    pd.testing.assert_frame_equal(ResultsStore(split.path).variants("G3"), one.variants("G3"))


def test_a_chromosome_without_a_file_has_genes_without_snvs(cohort, tmp_path):
    (tmp_path / "cohort.chrA.vcf.gz").symlink_to(cohort["template"].parent / "cohort.chrA.vcf.gz")
    (tmp_path / "cohort.chrA.vcf.gz.tbi").symlink_to(cohort["template"].parent / "cohort.chrA.vcf.gz.tbi")
    found = load(cohort, tmp_path / "cohort.{chrom}.vcf.gz")
    n = found.genes.set_index("gene_id")["n_snvs"]
    assert n["G3"] == 0 and n["G1"] > 0  # G3 is on chrB
    assert len(found.window_variants("chrB", 0, 2048).variants) == 0
    with pytest.raises(InputError, match=r"no genotype file for any chromosome of the genes table"):
        load(cohort, tmp_path / "nothing.{chrom}.vcf.gz")


def test_files_whose_samples_differ_are_refused_naming_the_file(cohort, tmp_path):
    for chrom in ("chrA", "chrB"):
        out = tmp_path / f"c.{chrom}.vcf.gz"
        keep = cohort["samples"] if chrom == "chrA" else cohort["samples"][:-1]
        subprocess.run(["bcftools", "view", "-s", ",".join(keep), "-r", chrom, "-Oz", "-o", str(out),
                        str(cohort["vcf"])], check=True)  # fmt: skip
        subprocess.run(["bcftools", "index", "-t", "-f", str(out)], check=True)
    with pytest.raises(InputError, match=r"c\.chrB\.vcf\.gz: its samples differ from .*c\.chrA\.vcf\.gz's"):
        load(cohort, tmp_path / "c.{chrom}.vcf.gz")
