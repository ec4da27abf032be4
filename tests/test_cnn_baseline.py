"""The simple CNN baseline: the model against a numpy forward, the patched (cached reference)
scoring against the full forward, ISM and gradient x input against finite differences,
learning a planted motif count, determinism, the gene split, and the store end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from cohort_files import simulated_cohort, write_expression, write_genes
from scipy import stats

from compute.analyses.cnn import model as cnn_model
from compute.analyses.cnn.baseline import SplitOptions, split_genes
from compute.analyses.cnn.model import (
    CNNConfig,
    ReferenceCache,
    TrainOptions,
    build_model,
    grad_x_input,
    ism_scores,
    load_cnn,
    score_tokens,
    train_cnn,
)
from compute.cli import main
from compute.cohort.haplotypes import personal_haplotypes, window_variants
from compute.cohort.reference import Reference, encode, gene_window
from compute.errors import InputError
from compute.stats import rng_for_gene
from compute.store import ResultsStore

SMALL = CNNConfig(window=230, kernels=6, kernel_width=10, pool=50, hidden=5)  # 221 conv positions, 4 bins


def _random_model(config: CNNConfig = SMALL, seed: int = 3):
    model = build_model(config, seed).eval()
    with torch.no_grad():  # non-trivial output scale, and biases that keep some ReLUs off
        model.conv.weight.mul_(4.0)
        model.conv.bias.uniform_(-0.5, 0.1, generator=torch.Generator().manual_seed(seed))
        model.dense.weight.mul_(10.0)
        model.target_mean.fill_(2.0)
        model.target_std.fill_(1.5)
    return model


def numpy_forward(model, tokens: np.ndarray) -> np.ndarray:
    """The architecture written out in numpy, loops and all, from the module's weights."""
    cfg = model.config
    w = model.conv.weight.detach().double().numpy()  # (K, 4, width)
    b = model.conv.bias.detach().double().numpy()
    dense_w = model.dense.weight.detach().double().numpy()
    dense_b = model.dense.bias.detach().double().numpy()
    out_w = model.out.weight.detach().double().numpy()[0]
    out_b = float(model.out.bias.detach())
    scores = []
    for seq in tokens:
        x = np.zeros((len(seq), 4))
        x[seq < 4, seq[seq < 4]] = 1.0
        conv = np.array([[np.sum(w[k] * x[p : p + cfg.kernel_width].T) + b[k] for p in range(cfg.n_conv)]
                         for k in range(cfg.kernels)])
        act = np.maximum(conv, 0)
        pooled = act[:, : cfg.n_bins * cfg.pool].reshape(cfg.kernels, cfg.n_bins, cfg.pool).mean(axis=2)
        hidden = np.maximum(dense_w @ pooled.reshape(-1) + dense_b, 0)
        z = out_w @ hidden + out_b
        scores.append(z * float(model.target_std) + float(model.target_mean))
    return np.array(scores)


def test_model_matches_a_numpy_forward():
    model = _random_model()
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, (3, SMALL.window), dtype=np.uint8)  # N (4) included
    np.testing.assert_allclose(score_tokens(model, tokens), numpy_forward(model, tokens), atol=1e-5)


def test_paper_architecture_shapes():
    cfg = CNNConfig()
    assert (cfg.window, cfg.kernels, cfg.kernel_width, cfg.pool, cfg.hidden) == (40_001, 900, 10, 900, 200)
    assert cfg.n_conv == 39_992 and cfg.n_bins == 44
    model = build_model(cfg)
    assert model.dense.in_features == 900 * 44
    with pytest.raises(ValueError, match="too short"):
        CNNConfig(window=50, pool=60).check()


def test_patched_scores_match_the_full_forward(monkeypatch):
    model = _random_model()
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 4, SMALL.window, dtype=np.uint8)
    ref[100:104] = 4  # N bases in the reference
    cache = ReferenceCache(model, ref)
    assert cache.score == pytest.approx(score_tokens(model, ref[None])[0], abs=1e-5)
    seqs = np.repeat(ref[None], 8, axis=0)
    changes = [[], [0], [229], [228, 229, 0], [5, 6, 7, 8], [209, 215, 225], [101, 150], [49, 50, 99]]
    for row, positions in zip(seqs, changes, strict=True):  # edges, the unpooled tail, neighbours, N
        for p in positions:
            row[p] = (row[p] + 1 + rng.integers(0, 4)) % 5
    np.testing.assert_allclose(cache.scores(seqs, batch_size=3), score_tokens(model, seqs), atol=1e-5)
    assert cache.scores(seqs[5:6])[0] == pytest.approx(cache.score, abs=1e-6)  # only the dropped tail
    full_batches = cache.scores(seqs, batch_size=8)
    monkeypatch.setattr(cnn_model, "CHUNK_FLOATS", 20 * SMALL.kernels)  # batches split by their size
    np.testing.assert_allclose(cache.scores(seqs, batch_size=8), full_batches, atol=1e-6)
    np.testing.assert_allclose(score_tokens(model, seqs), full_batches, atol=1e-5)  # pooled() by chunks
    none = np.array([], dtype=np.int64)
    assert ism_scores(cache, none, none.astype(np.uint8)).shape == (0,)  # a window without SNVs
    assert grad_x_input(model, ref, none, none.astype(np.uint8)).shape == (0,)


def test_ism_is_the_difference_of_two_full_forwards():
    model = _random_model()
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 4, SMALL.window, dtype=np.uint8)
    offsets = np.array([0, 3, 57, 120, 199, 229])
    alts = (ref[offsets] + rng.integers(1, 4, len(offsets))) % 4
    seqs = np.repeat(ref[None], len(offsets), axis=0)
    seqs[np.arange(len(offsets)), offsets] = alts
    expected = score_tokens(model, seqs) - score_tokens(model, ref[None])[0]
    got = ism_scores(ReferenceCache(model, ref), offsets, alts, batch_size=4)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert np.abs(expected).max() > 1e-3  # the check is not vacuous


def test_grad_x_input_matches_finite_differences():
    model = _random_model().double()
    rng = np.random.default_rng(4)
    ref = rng.integers(0, 4, SMALL.window, dtype=np.uint8)
    offsets = np.array([2, 60, 130, 210])
    alts = (ref[offsets] + 1) % 4
    got = grad_x_input(model, ref, offsets, alts)
    x0 = np.eye(4)[ref]
    eps = 1e-6

    def f(x):
        with torch.no_grad():
            return float(model(torch.from_numpy(x[None]))[0])

    expected = []
    for o, a in zip(offsets, alts, strict=True):
        up_alt, up_ref = x0.copy(), x0.copy()
        up_alt[o, a] += eps
        up_ref[o, ref[o]] += eps
        expected.append((f(up_alt) - f(x0)) / eps - (f(up_ref) - f(x0)) / eps)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    assert np.abs(got).max() > 1e-4


def planted_motif_genes(n_genes: int, length: int, seed: int = 0):
    """Random windows with 0-8 copies of one 8-mer; expression = copies + noise."""
    rng = np.random.default_rng(seed)
    motif = encode("TGACTCAG")
    tokens = rng.integers(0, 4, (n_genes, length), dtype=np.uint8)
    copies = rng.integers(0, 9, n_genes)
    for row, k in zip(tokens, copies, strict=True):
        for start in rng.choice(length // 10 - 1, k, replace=False) * 10:
            row[start : start + len(motif)] = motif
    return tokens, copies + rng.normal(0, 0.3, n_genes)


def test_cnn_learns_a_planted_motif_count_on_held_out_genes():
    tokens, expression = planted_motif_genes(400, 160)
    split = split_genes([f"G{i:03d}" for i in range(400)], SplitOptions(validation=0.15, test=0.15))
    labels = split.to_numpy()
    config = CNNConfig(window=160, kernels=16, kernel_width=10, pool=20, hidden=16)
    # The paper's optimiser (Adam, lr 0.001, MSE); small batches give enough steps in 8 epochs.
    # (r = 0.92-0.93 with data seeds 0, 1, 2.)
    trained = train_cnn(
        tokens, expression, labels == "train", labels == "validation", config,
        TrainOptions(epochs=8, batch_size=8, lr=1e-3, patience=8, seed=0),
    )  # fmt: skip
    test = labels == "test"
    r = np.corrcoef(score_tokens(trained.model, tokens[test]), expression[test])[0, 1]
    assert r > 0.8, trained.history
    history = trained.history
    assert history.validation_mse.iloc[trained.best_epoch - 1] == history.validation_mse.min()


def test_training_is_deterministic_and_leaves_the_global_rng_alone():
    tokens, expression = planted_motif_genes(40, SMALL.window, seed=1)
    train = np.arange(40) < 30
    options = TrainOptions(epochs=2, batch_size=8, seed=5)
    state = torch.random.get_rng_state()
    a = train_cnn(tokens, expression, train, ~train, SMALL, options)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = train_cnn(tokens, expression, train, ~train, SMALL, options)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    c = train_cnn(tokens, expression, train, ~train, SMALL, TrainOptions(epochs=2, batch_size=8, seed=6))
    assert not torch.equal(a.model.conv.weight, c.model.conv.weight)


def test_split_genes_is_seeded_exact_and_order_free():
    ids = [f"G{i:02d}" for i in range(20)]
    split = split_genes(ids, SplitOptions(validation=0.1, test=0.2, seed=3))
    assert split.value_counts().to_dict() == {"train": 14, "test": 4, "validation": 2}
    assert list(split.index) == ids
    shuffled = split_genes(ids[::-1], SplitOptions(validation=0.1, test=0.2, seed=3))
    pd.testing.assert_series_equal(shuffled.loc[ids], split)
    assert not split.equals(split_genes(ids, SplitOptions(validation=0.1, test=0.2, seed=4)))
    with pytest.raises(InputError, match="for training"):
        split_genes(ids[:2], SplitOptions(validation=0.5, test=0.2))
    with pytest.raises(InputError, match="fractions"):
        split_genes(ids, SplitOptions(validation=0.6, test=0.5))


# ----------------------------------------------------------------- end to end


@pytest.fixture
def cohort(tmp_path):
    files = simulated_cohort(tmp_path, n_people=10)
    genes = [(f"G{i}", f"GENE{i}", "chrA" if i < 6 else "chrB", 150 + 400 * (i % 6), "+-"[i % 2])
             for i in range(10)]  # fmt: skip
    genes.append(("G10", "EDGE", "chrA", 2990, "+"))  # its window runs off the chromosome end
    files["genes"] = write_genes(tmp_path / "genes10.tsv", genes)
    files["expression"] = write_expression(
        tmp_path / "expr10.tsv", [g[0] for g in genes], files["samples"], seed=3
    )
    return files


def _args(files, out, *extra):
    return [
        "cnn-baseline", "--fasta", str(files["fasta"]), "--vcf", str(files["vcf"]),
        "--genes", str(files["genes"]), "--expression", str(files["expression"]), "--missing", "reference",
        "--out", str(out), "--window", "231", "--kernels", "6", "--pool", "50", "--hidden", "5",
        "--epochs", "3", "--train-batch-size", "4", "--validation", "0.2", "--test", "0.2",
        "--null-draws", "20", "--no-predixcan", "--no-progress", *extra,
    ]  # fmt: skip


def test_cnn_baseline_store_end_to_end(cohort, tmp_path):
    out = tmp_path / "cnn"
    assert main(_args(cohort, out)) == 0
    store = ResultsStore(out)
    manifest = store.manifest
    assert manifest["dataset"] == "cnn-baseline" and manifest["finalized"]
    assert manifest["cnn"]["n_train"] + manifest["cnn"]["n_validation"] + manifest["cnn"]["n_test"] == 11
    genes = store.genes()
    assert len(genes) == 11 and set(genes.split) == {"train", "validation", "test"}
    assert {"q_bh", "significant", "linear_r"} <= set(genes.columns)

    model = load_cnn(out / "cnn" / "model.pt")
    reference = Reference(cohort["fasta"])
    assert genes.set_index("gene_id").loc["G10", "n_snvs"] > 0
    row = genes.set_index("gene_id").loc["G1"]
    start0, end0 = gene_window(int(row.tss), 231)
    ref = reference.tokens(row.chrom, start0, end0)
    assert row.ref_score == pytest.approx(score_tokens(model, ref[None])[0], abs=1e-5)
    sample_people = store.people("G1")
    wv = window_variants(cohort["vcf"], row.chrom, start0, end0, list(sample_people.person_id),
                         missing="reference", reference=reference)  # fmt: skip
    full = np.concatenate([score_tokens(model, t) for _, _, t in personal_haplotypes(ref, wv, start0)])
    np.testing.assert_allclose(sample_people[["hap1", "hap2"]].to_numpy().ravel(), full, atol=1e-5)
    np.testing.assert_allclose(sample_people.predicted, full.reshape(-1, 2).mean(axis=1), atol=1e-5)

    variants = store.variants("G1")
    assert len(variants) == row.n_snvs == wv.n_snvs > 0
    assert (variants.tss_distance.abs() <= 231 // 2).all()  # only SNVs within the window
    offsets = variants.pos.to_numpy() - 1 - start0
    seqs = np.repeat(ref[None], len(offsets), axis=0)
    seqs[np.arange(len(offsets)), offsets] = encode("".join(variants.alt))
    ism = score_tokens(model, seqs) - score_tokens(model, ref[None])[0]
    np.testing.assert_allclose(variants.ism, ism, atol=2e-5)
    assert variants.grad_x_input.notna().all()
    # r against scipy; the null draws weigh exactly this window's SNVs (those within +/-115 bp here).
    assert row.r == pytest.approx(stats.pearsonr(sample_people.predicted, sample_people.observed)[0])
    rng = rng_for_gene("G1", 0)
    null_r = [stats.pearsonr(wv.dosage @ w, sample_people.observed)[0]
              for w in rng.standard_normal((wv.n_snvs, 20)).T]  # fmt: skip
    np.testing.assert_allclose(store.null("G1").r, null_r, atol=1e-12)

    import plotly.graph_objects as go

    from components import expression, gene_card, genotype, ism_eqtl, locus, tss_hist, volcano
    from components.data import Datasets
    from components.selection import parse_url

    datasets = Datasets([out])
    assert datasets.describe("cnn").startswith("Simple CNN baseline")
    assert len(datasets.gene("cnn", "G1").people) == 10
    for gene in ("GENE1", "EDGE"):  # every view of the dashboard renders this store
        sel = parse_url(datasets, f"/gene/{gene}", "?dataset=cnn")
        assert sel.gene_id is not None, sel.message
        go.Figure(volcano.render(datasets, sel, None)[0])
        assert gene_card.render(datasets, sel)
        for view in (expression, ism_eqtl, locus, tss_hist, genotype):
            go.Figure(view.render(datasets, sel)[0])


def test_cnn_baseline_resumes_and_reruns_identically(cohort, tmp_path):
    out = tmp_path / "cnn"
    assert main(_args(cohort, out)) == 0
    genes = ResultsStore(out).genes()
    model_time = (out / "cnn" / "model.pt").stat().st_mtime_ns
    # A killed run: two genes never written, the tables not gathered.
    for gene_id in ("G3", "G7"):
        for part in (out / "parts" / gene_id).iterdir():
            part.unlink()
        (out / "parts" / gene_id).rmdir()
    assert main(_args(cohort, out)) == 0
    assert (out / "cnn" / "model.pt").stat().st_mtime_ns == model_time  # the model is reused
    pd.testing.assert_frame_equal(ResultsStore(out).genes(), genes)
    again = tmp_path / "again"
    assert main(_args(cohort, again)) == 0
    pd.testing.assert_frame_equal(ResultsStore(again).genes(), genes)  # seeded: identical from scratch
    assert main(_args(cohort, out, "--kernels", "7")) == 2  # another model into the same store
    other = write_expression(tmp_path / "other.tsv", [f"G{i}" for i in range(11)], cohort["samples"], seed=9)
    assert main(_args({**cohort, "expression": other}, out)) == 2  # other training data, same store
    assert main(_args(cohort, out, "--gene", "G1", "G2", "G3", "G4")) == 2  # other training genes


def test_cnn_baseline_bad_options_are_one_line_errors(cohort, tmp_path, capsys):
    assert main(_args(cohort, tmp_path / "x", "--window", "40")) == 2
    assert "too short" in capsys.readouterr().err
    assert main(_args(cohort, tmp_path / "x", "--lr", "0")) == 2
    assert main(_args(cohort, tmp_path / "x", "--device", "gpu0")) == 2
    assert "device" in capsys.readouterr().err
    assert main(_args(cohort, tmp_path / "x", "--gene", "NOPE")) == 2
    assert "NOPE" in capsys.readouterr().err
