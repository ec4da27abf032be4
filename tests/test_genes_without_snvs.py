"""Genes without SNVs are results, not crashes: a gene on a chromosome the VCF lacks and a gene
whose SNVs are all monomorphic among the people are stored with r NaN and the reason, whatever
gene comes first; the store finalizes, `status` and `validate` say why and how many."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from compute.engine.models import save_weights, small_model
from compute.run.pipeline import precompute, store_status
from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions
from compute.store import ResultsStore
from tests.cohort_files import random_sequence, write_expression, write_fasta, write_genes, write_vcf

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 2048


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    model = small_model(seed=4, window=WINDOW, device="cpu", dim=24, depth=1, heads=1)
    return save_weights(model, tmp_path_factory.mktemp("w") / "tiny")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    """chrA has polymorphic SNVs around A1; chrB's only SNVs near B1 are carried by nobody (all
    0|0) or by everybody (all 1|1); chrC is in the FASTA but not in the VCF (a per-chromosome
    release)."""
    tmp = tmp_path_factory.mktemp("cohort")
    rng = np.random.default_rng(11)
    contigs = {"chrA": 6000, "chrB": 6000, "chrC": 6000}
    seqs = {c: random_sequence(rng, n) for c, n in contigs.items()}
    samples = [f"P{i:02d}" for i in range(16)]
    rows = []
    for k, pos in enumerate(range(2000, 4000, 97)):
        ref = seqs["chrA"][pos - 1]
        alt = next(b for b in "ACGT" if b != ref)
        gts = [f"{a}|{b}" for a, b in rng.integers(0, 2, size=(len(samples), 2))]
        rows.append(("chrA", pos, f"a{k}", ref, alt, gts))
    for k, pos in enumerate((2500, 3500)):
        ref = seqs["chrB"][pos - 1]
        alt = next(b for b in "ACGT" if b != ref)
        rows.append(("chrB", pos, f"b{k}", ref, alt, ["0|0" if k == 0 else "1|1"] * len(samples)))
    vcf_contigs = {c: n for c, n in contigs.items() if c != "chrC"}
    genes = [("A1", "POLY", "chrA", 3000, "+"), ("B1", "MONO", "chrB", 3000, "-"),
             ("C1", "NOVCF", "chrC", 3000, "+")]  # fmt: skip
    return dict(
        fasta=write_fasta(tmp / "ref.fa", seqs),
        vcf=write_vcf(tmp / "cohort.vcf.gz", samples, rows, vcf_contigs),
        genes=write_genes(tmp / "genes.tsv", genes),
        expression=write_expression(tmp / "expression.tsv", [g[0] for g in genes], samples, seed=2),
    )


def settings_for(weights: Path) -> RunSettings:
    return RunSettings(
        window=None,
        model=ModelOptions(weights=str(weights), track=3, batch_size=8, device="cpu"),
        stats=StatsOptions(null_draws=10, seed=1, predixcan=True),
    )


def files_for(c: dict) -> CohortFiles:
    return CohortFiles(str(c["fasta"]), str(c["vcf"]), str(c["genes"]), str(c["expression"]))


@pytest.mark.parametrize("order", [["C1", "B1", "A1"], ["A1", "B1", "C1"]])
def test_genes_without_snvs_are_stored_with_their_reason(cohort, weights, tmp_path, order):
    store = precompute(files_for(cohort), settings_for(weights), tmp_path / "s", genes=order, progress=False)
    assert store.manifest["finalized"] and not store.failures()
    genes = store.genes().set_index("gene_id")
    assert sorted(genes.index) == ["A1", "B1", "C1"]
    assert genes.loc["C1", "n_snvs"] == 0 and genes.loc["B1", "n_snvs"] == 2
    assert genes.loc["A1", "n_snvs"] > 5 and np.isfinite(genes.loc["A1", "r"])
    assert genes.loc["C1", "reason"] == "no SNV in the window"
    assert genes.loc["B1", "reason"] == "no SNV polymorphic among the 16 people"
    assert pd.isna(genes.loc["A1", "reason"])
    for gene_id in ("B1", "C1"):
        row = genes.loc[gene_id]
        for column in ("r", "p_r", "p_null", "q_bh", "linear_r", "predixcan_r"):
            assert np.isnan(row[column]), (gene_id, column)
        assert not row["significant"] and row["n_drivers"] == 0
        people = store.people(gene_id)
        assert len(people) == 16 and people.predicted.nunique() == 1  # everybody carries the reference
    assert len(store.variants("C1")) == 0 and len(store.variants("B1")) == 2
    assert not store.variants("B1").is_driver.any()
    # The tables' types never depend on which gene came first.
    assert store.genotypes("C1").alleles.shape == (16, 2, 0)
    for name in ("genes", "people", "variants", "null", "genotypes"):
        schema = pq.read_schema(store.path / f"{name}.parquet")
        assert "null" not in {str(t) for t in schema.types}, (name, schema)
    variant_ids = pq.read_schema(store.path / "genotypes.parquet").field("variant_ids")
    assert str(variant_ids.type) == "list<element: string>"
    # Only A1 enters BH.
    assert genes["p_null"].notna().sum() <= 1
    report = store.manifest["input_report"]  # what the inputs lost, recorded with the store
    assert report["genes"]["without_snvs"] == {"count": 1, "examples": ["C1"]}
    assert report["people"]["used"] == 16 and report["records"]["indels_skipped"] == 0
    from components.data import input_losses

    assert input_losses(report) == "16 people, 3 genes; genes without an SNV: 1"
    status = store_status(store.path)
    no_snv = {"B1": "no SNV polymorphic among the 16 people", "C1": "no SNV in the window"}
    assert status["no_result"] == no_snv


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compute", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


@pytest.mark.slow
def test_validate_precompute_and_status_say_how_many_genes_have_no_snv(cohort, weights, tmp_path):
    inputs = ["--fasta", str(cohort["fasta"]), "--vcf", str(cohort["vcf"]), "--genes", str(cohort["genes"]),
              "--expression", str(cohort["expression"])]  # fmt: skip
    validate = run_cli("validate", *inputs, "--window", str(WINDOW))
    assert validate.returncode == 0, validate.stderr
    assert "genes with no SNV in their window: 1 (C1)" in validate.stdout
    out = tmp_path / "s"
    run = run_cli("precompute", *inputs, "--weights", str(weights), "--track", "3", "--device", "cpu",
                  "--null-draws", "10", "--no-progress", "--out", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "genes with no SNV in their window: 1 (C1)" in run.stdout
    assert "3 of 3 genes done, 0 failed, 0 left" in run.stdout
    assert "  no r for C1: no SNV in the window" in run.stdout
    assert "  no r for B1: no SNV polymorphic among the 16 people" in run.stdout


def test_a_store_whose_finalize_failed_is_finished_by_the_next_run(cohort, weights, tmp_path, monkeypatch):
    def broken(self, genes_transform=None):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(ResultsStore, "finalize", broken)
        with pytest.raises(OSError):
            precompute(files_for(cohort), settings_for(weights), tmp_path / "s", progress=False)
    assert not ResultsStore(tmp_path / "s").manifest.get("finalized")
    assert len(ResultsStore(tmp_path / "s").done_genes()) == 3
    store = precompute(files_for(cohort), settings_for(weights), tmp_path / "s", progress=False)
    assert store.manifest["finalized"] and len(store.genes()) == 3
