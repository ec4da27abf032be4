"""Precompute end to end on a small model: numbers checked against the engine and
statistics run by hand, resume after SIGKILL, local vs Ray, clear errors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from compute.cohort.haplotypes import WindowVariants, apply_snvs, personal_haplotypes, window_variants
from compute.cohort.reference import Reference, encode, gene_window
from compute.engine.attribution import ism
from compute.engine.model import haplotype_bases, score_tokens
from compute.engine.models import load_model, save_weights, small_model
from compute.errors import InputError, ModelError
from compute.run.backends import RayBackend
from compute.run.gene import haplotype_snvs, model_spec
from compute.run.pipeline import precompute, store_status
from compute.run.settings import ModelOptions, RunSettings
from compute.store import ResultsStore
from tests.cohort_files import files_for, many_genes_cohort, read_store, settings_for, simulated_cohort

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 4096


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_weights(small_model(seed=3, window=WINDOW, device="cpu"), tmp_path_factory.mktemp("w") / "m")


@pytest.fixture
def cohort(tmp_path) -> dict:
    return simulated_cohort(tmp_path, seed=5, n_people=10)


def test_precompute_matches_the_engine_and_statistics(cohort, weights, tmp_path):
    settings = settings_for(weights)
    store = precompute(files_for(cohort), settings, tmp_path / "store", progress=False)
    genes = store.genes().set_index("gene_id")
    assert sorted(genes.index) == ["G1", "G2", "G3"]
    assert store.manifest["settings"]["window"] == WINDOW

    model = load_model(weights, device="cpu")
    spec = model_spec(settings.model)
    reference = Reference(cohort["fasta"])
    people = store.people("G2")
    for gene_id in ("G2", "G3"):  # G3's window runs off the chromosome start
        gene = genes.loc[gene_id]
        start0, end0 = gene_window(int(gene.tss), WINDOW)
        ref = reference.tokens(gene.chrom, start0, end0)
        wv = window_variants(cohort["vcf"], gene.chrom, start0, end0, list(people.person_id), "reference")
        # Haplotype scores: every haplotype built independently and scored whole.
        hap = np.zeros((len(people), 2))
        for person, h, tokens in personal_haplotypes(ref, wv, start0, batch_size=7):
            hap[person, h] = score_tokens(model, tokens, spec)
        got = store.people(gene_id)
        np.testing.assert_allclose(got[["hap1", "hap2"]].to_numpy(), hap, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.predicted, hap.mean(axis=1), rtol=1e-5, atol=1e-6)
        r, _ = sps.pearsonr(got.predicted, got.observed)
        assert genes.loc[gene_id, "r"] == pytest.approx(r, abs=1e-9)
        # ISM: a full forward pass per SNV.
        variants = store.variants(gene_id)
        offsets = variants.pos.to_numpy() - 1 - start0
        full = ism(model, spec, ref, offsets, encode("".join(variants.alt)), method="full")
        np.testing.assert_allclose(variants.ism, full, rtol=1e-4, atol=5e-6)  # fp32 noise of the score
        assert np.isfinite(variants.grad_x_input).all()
    assert {"p_null", "q_bh", "significant"} <= set(genes.columns)
    assert len(store.null("G1")) == 20


def test_haplotype_snvs_match_apply_snvs_with_shared_positions():
    # Two records at one position (a split multi-allelic site) plus a triallelic record.
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 4, size=50).astype(np.uint8)
    pos = np.array([5, 9, 9, 20])
    variants = pd.DataFrame({"variant_id": list("abcd"), "pos": pos + 1, "alt": ["A", "C", "G", "T"]})
    allele_tokens = np.array([[ref[5], 0, 4], [ref[9], 1, 4], [ref[9], 2, 4], [ref[20], 3, 2]], np.uint8)
    codes = rng.integers(0, 2, size=(30, 2, 4)).astype(np.uint8)
    codes[:, :, 3] = rng.integers(0, 3, size=(30, 2))
    people = [str(i) for i in range(30)]
    wv = WindowVariants(variants, (codes > 0).astype(np.uint8), codes, allele_tokens, people)
    offsets, carried, carries = haplotype_snvs(wv, pos)
    assert offsets.tolist() == [5, 9, 20]
    bases = haplotype_bases(ref, offsets, carried, carries)
    built = np.broadcast_to(ref, (60, 50)).copy()
    built[:, offsets] = bases.reshape(60, 3)
    expected = apply_snvs(ref, codes.reshape(60, 4), wv, 0)
    np.testing.assert_array_equal(built, expected)


def test_rerun_skips_finished_genes_and_failures_are_recorded(cohort, tiny_weights, tmp_path, monkeypatch):
    weights = tiny_weights
    from compute.run.gene import GeneWorker

    real = GeneWorker.model_outputs

    def failing(self, gene_id, stage=None):
        if gene_id == "G2":
            raise RuntimeError("boom")
        return real(self, gene_id, stage)

    monkeypatch.setattr(GeneWorker, "model_outputs", failing)
    out = tmp_path / "store"
    precompute(files_for(cohort), settings_for(weights), out, progress=False)
    status = store_status(out)
    assert status["done"] == 2 and list(status["failed"]) == ["G2"]
    assert "RuntimeError: boom" in status["failed"]["G2"]
    g1 = (out / "parts" / "G1").stat().st_mtime_ns

    monkeypatch.setattr(GeneWorker, "model_outputs", real)
    store = precompute(files_for(cohort), settings_for(weights), out, progress=False)
    assert (out / "parts" / "G1").stat().st_mtime_ns == g1  # not recomputed
    assert store_status(out)["failed"] == {} and sorted(store.genes().gene_id) == ["G1", "G2", "G3"]


def test_changed_settings_are_refused(cohort, weights, tmp_path):
    out = tmp_path / "store"
    precompute(files_for(cohort), settings_for(weights), out, genes=["G1"], progress=False)
    with pytest.raises(InputError, match="(?i)model|settings"):
        precompute(files_for(cohort), settings_for(weights, summary="sum"), out, progress=False)


def test_a_store_resumes_only_with_the_inputs_it_was_made_from(cohort, tiny_weights, tmp_path):
    import shutil

    out = tmp_path / "store"
    precompute(files_for(cohort), settings_for(tiny_weights), out, genes=["G1"], progress=False)
    # the same files elsewhere: resumed
    moved = {k: shutil.copy(v, tmp_path / f"moved-{Path(v).name}") for k, v in cohort.items()
             if k in ("fasta", "expression")}  # fmt: skip
    precompute(files_for({**cohort, **moved}), settings_for(tiny_weights), out, genes=["G2"], progress=False)
    assert sorted(ResultsStore(out).genes().gene_id) == ["G1", "G2"]
    # another expression: refused before any gene, naming both files
    edited = tmp_path / "edited.tsv"
    table = pd.read_csv(cohort["expression"], sep="\t")
    table.iloc[0, 1] += 1.0
    table.to_csv(edited, sep="\t", index=False)
    with pytest.raises(InputError) as err:
        files = files_for({**cohort, "expression": edited})
        precompute(files, settings_for(tiny_weights), out, progress=False)
    assert f"the expression file {edited} differs from the one the store was made with" in str(err.value)
    assert "sha256 differs" in str(err.value) and "manifest.json" in str(err.value)
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["G1", "G2"]


@pytest.mark.parametrize(
    ("options", "window", "message"),
    [
        (dict(track=99_999), None, "track index 99999 is out of range"),
        (dict(), 2048, "window of 2,048 bp does not match the model, which takes 4,096 bp"),
        (dict(shifts=(9,)), None, "at most \\+/-3 bp"),
    ],
)
def test_model_errors_come_before_any_work(cohort, weights, tmp_path, options, window, message):
    track = options.pop("track", 7)
    settings = RunSettings(
        window=window, model=ModelOptions(weights=str(weights), track=track, device="cpu", **options)
    )
    with pytest.raises(ModelError, match=message):
        precompute(files_for(cohort), settings, tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists()


def test_wrong_weights_directory_says_how_to_make_one(cohort, tmp_path):
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "missing", tmp_path / "empty"):
        result = run_cli(
            "precompute", *cohort_args(cohort), "--weights", str(path), "--out", str(tmp_path / "s"),
        )
        assert result.returncode == 2
        assert str(path) in result.stderr and "python -m compute weights export DIR" in result.stderr
        assert "Traceback" not in result.stderr


# ----- a killed run resumes into the same store ----------------------------------------


def cohort_args(c: dict) -> list[str]:
    return ["--fasta", str(c["fasta"]), "--vcf", str(c["vcf"]), "--genes", str(c["genes"]),
            "--expression", str(c["expression"]), "--missing", "reference"]  # fmt: skip


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compute", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, **kwargs)  # fmt: skip


def precompute_args(c: dict, weights: Path, out: Path) -> list[str]:
    return ["precompute", *cohort_args(c), "--weights", str(weights), "--out", str(out), "--track", "7",
            "--device", "cpu", "--null-draws", "10", "--no-predixcan", "--no-progress"]  # fmt: skip


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_uninterrupted_store(tmp_path, tiny_weights):
    weights = tiny_weights
    c = many_genes_cohort(tmp_path)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert run_cli(*precompute_args(c, weights, whole)).returncode == 0

    proc = subprocess.Popen([sys.executable, "-m", "compute", *precompute_args(c, weights, killed)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        parts = killed / "parts"
        if parts.is_dir() and len([p for p in parts.iterdir() if not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; give it more genes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    # A reader of the killed store sees whole genes only, and no finished tables.
    store = ResultsStore(killed)
    done = store.done_genes()
    assert 2 <= len(done) < 12
    for gene_id in done:
        assert len(pd.read_parquet(killed / "parts" / gene_id / "people.parquet")) == 12
    assert not store.has_table("genes")
    assert store_status(killed)["left"]

    assert run_cli(*precompute_args(c, weights, killed)).returncode == 0
    a, b = read_store(whole), read_store(killed)
    assert list(a) == list(b) and "genes.parquet" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


@pytest.mark.slow  # a Ray started here, beside the others' (one per process, each its own cluster)
def test_local_and_ray_backends_give_identical_stores(tmp_path, tiny_weights, cohort):
    weights = tiny_weights
    local, ray_store = tmp_path / "local", tmp_path / "ray"
    precompute(files_for(cohort), settings_for(weights), local, progress=False)
    precompute(files_for(cohort), settings_for(weights), ray_store, backend=RayBackend(), progress=False)
    a, b = read_store(local), read_store(ray_store)
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


def test_a_local_precompute_reads_the_cohort_once(cohort, tiny_weights, tmp_path, monkeypatch):
    """Validation reads every record of every gene window: the worker reuses that cohort instead of
    reading the inputs a second time."""
    import compute.cohort.inputs as inputs

    calls = []
    real = inputs.load_cohort
    monkeypatch.setattr(inputs, "load_cohort", lambda *a, **k: calls.append(1) or real(*a, **k))
    precompute(files_for(cohort), settings_for(tiny_weights), tmp_path / "s", progress=False)
    assert len(calls) == 1
