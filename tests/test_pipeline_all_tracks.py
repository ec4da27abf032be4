"""precompute with the all-track head: predicted_all_tracks and r_all_tracks against a hand-built check."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats as sps

from compute.cli import main
from compute.cohort.haplotypes import personal_haplotypes, window_variants
from compute.cohort.reference import Reference, gene_window
from compute.engine.models import load_model, save_weights, small_model
from compute.engine.track_heads import load_track_weights
from compute.errors import ModelError
from compute.run.pipeline import precompute
from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions
from compute.store.subsets import track_agreement
from tests.cohort_files import simulated_cohort

WINDOW = 2048
N_TRACKS = 9
TRACK = 4


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    heads = dict(human=N_TRACKS)
    model = small_model(seed=6, window=WINDOW, device="cpu", dim=24, depth=1, heads=1, output_heads=heads)
    return save_weights(model, tmp_path_factory.mktemp("w") / "m")


@pytest.fixture(scope="module")
def track_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("t") / "weights.csv"
    values = [0.4, 0, -0.7, 0, 1.1, 0, 0, 0.25, -0.05]
    rows = "".join(f"t{i},{w}\n" for i, w in enumerate(values))
    path.write_text("tracks,weights\n" + rows + "offset,2.5\n")
    return path


@pytest.fixture
def cohort(tmp_path) -> dict:
    return simulated_cohort(tmp_path, seed=8, n_people=8)


def files_for(c: dict) -> CohortFiles:
    return CohortFiles(str(c["fasta"]), str(c["vcf"]), str(c["genes"]), str(c["expression"]), "reference")


def settings_for(weights_dir: Path, all_tracks: Path | None) -> RunSettings:
    return RunSettings(
        window=None,
        model=ModelOptions(weights=str(weights_dir), track=TRACK, batch_size=8, device="cpu",
                           all_tracks=None if all_tracks is None else str(all_tracks)),
        stats=StatsOptions(null_draws=10, seed=1, predixcan=False),
        gradients=False,
    )  # fmt: skip


def test_people_and_genes_get_the_all_track_score(cohort, weights_dir, track_csv, tmp_path):
    settings = settings_for(weights_dir, track_csv)
    store = precompute(files_for(cohort), settings, tmp_path / "s", genes=["G1", "G2"], progress=False)
    genes = store.genes().set_index("gene_id")
    assert {"r_all_tracks", "p_r_all_tracks", "ref_score_all_tracks"} <= set(genes.columns)
    assert store.manifest["model"]["all_tracks"] == str(track_csv)
    weights = load_track_weights(track_csv)
    model = load_model(weights_dir, device="cpu")
    bins = [model.tss_bin() - 1, model.tss_bin(), model.tss_bin() + 1]
    reference = Reference(cohort["fasta"])
    for gene_id in ("G1", "G2"):
        gene = genes.loc[gene_id]
        start0, end0 = gene_window(int(gene.tss), WINDOW)
        ref = reference.tokens(gene.chrom, start0, end0)
        people = store.people(gene_id)
        wv = window_variants(cohort["vcf"], gene.chrom, start0, end0, list(people.person_id), "reference")
        hand = np.zeros((len(people), 2))
        single = np.zeros((len(people), 2))
        for person, h, tokens in personal_haplotypes(ref, wv, start0, batch_size=16):
            with torch.no_grad():
                values = model.net(torch.from_numpy(tokens).long())["human"].double().numpy()[:, bins]
            per_track = np.log(values).sum(1)  # sum_log over the three TSS bins, every track
            hand[person, h] = weights.offset + per_track @ weights.weights
            single[person, h] = per_track[:, TRACK]
        np.testing.assert_allclose(people.predicted_all_tracks, hand.mean(1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(people.predicted, single.mean(1), rtol=1e-5, atol=1e-5)
        r = sps.pearsonr(people.predicted_all_tracks, people.observed).statistic
        assert genes.loc[gene_id, "r_all_tracks"] == pytest.approx(r, abs=1e-9)
    assert track_agreement(store.genes().reset_index()).column == "r_all_tracks"


def test_single_track_results_do_not_change_with_the_option(cohort, weights_dir, track_csv, tmp_path):
    files = files_for(cohort)
    plain = precompute(files, settings_for(weights_dir, None), tmp_path / "a", genes=["G1"], progress=False)
    with_heads = settings_for(weights_dir, track_csv)
    both = precompute(files, with_heads, tmp_path / "b", genes=["G1"], progress=False)
    assert "all_tracks" not in plain.manifest["model"]
    assert "predicted_all_tracks" not in plain.people("G1").columns
    # the same scores up to fp32 rounding (the head's matrix product has other shapes)
    np.testing.assert_allclose(plain.people("G1").predicted, both.people("G1").predicted, rtol=1e-6)
    np.testing.assert_allclose(plain.genes().r, both.genes().r, atol=1e-4)


def test_track_count_mismatch_is_refused_before_any_work(cohort, weights_dir, tmp_path):
    csv = tmp_path / "w.csv"
    csv.write_text("tracks,weights\n" + "".join(f"t{i},1\n" for i in range(5313)) + "offset,0\n")
    with pytest.raises(ModelError, match="5,313 track weights, but the model's human head has 9 tracks"):
        precompute(files_for(cohort), settings_for(weights_dir, csv), tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
    args = ["precompute", "--fasta", str(cohort["fasta"]), "--vcf", str(cohort["vcf"]),
            "--genes", str(cohort["genes"]), "--expression", str(cohort["expression"]),
            "--missing", "reference",
            "--weights", str(weights_dir), "--out", str(tmp_path / "s"), "--device", "cpu",
            "--all-tracks", str(tmp_path / "none.csv")]  # fmt: skip
    assert main(args) == 2
    assert not (tmp_path / "s").exists()
