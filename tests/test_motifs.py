"""Motif scan at SNVs: JASPAR PWMs, exact p-values, planted sites, enrichment, the store command."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy.stats import hypergeom

from compute.analyses.motifs import (
    BASES,
    changed_snvs,
    load_jaspar,
    motif_enrichment,
    motif_set,
    pwm_from_counts,
    scan_snvs,
    snv_windows,
)
from compute.cli import main
from compute.cohort.reference import encode
from compute.errors import InputError
from compute.store import VARIANT_COLUMNS, ResultsStore
from compute.store.ism_logo import ism_logo_matrix

CTCF = "MA0139.2"
SP1 = "MA0079.5"


@pytest.fixture(scope="session")
def jaspar():
    return load_jaspar()


def jaspar_counts(matrix_id: str) -> np.ndarray:
    from pyjaspar import jaspardb

    motif = jaspardb(release="JASPAR2024").fetch_motif_by_id(matrix_id)
    return np.array([motif.counts[b] for b in BASES], dtype=float).T


def planted(jaspar, matrix_id: str, reverse: bool, seed: int = 1):
    """A random window with the consensus of a motif placed so its highest-scoring column is the SNV.

    Returns the window, the PWM column k at the SNV, the consensus base there and the worst base.
    """
    i = jaspar.ids.index(matrix_id)
    pwm = jaspar.pwms[i][::-1, ::-1] if reverse else jaspar.pwms[i]  # as read on the forward strand
    rng = np.random.default_rng(seed)
    window = rng.integers(0, 4, 2 * jaspar.flank + 1).astype(np.uint8)
    k = int(np.argmax(pwm.max(axis=1) - pwm.min(axis=1)))  # the column where a change costs most
    center = jaspar.flank
    window[center - k : center - k + len(pwm)] = pwm.argmax(axis=1)
    return window, k, int(pwm[k].argmax()), int(pwm[k].argmin())


# ----- motif matrices -----------------------------------------------------------


def test_jaspar_core_vertebrates_load_offline(jaspar):
    assert len(jaspar) > 800 and len(set(jaspar.ids)) == len(jaspar)  # one version per matrix
    assert CTCF in jaspar.ids and jaspar.names[jaspar.ids.index(CTCF)] == "CTCF"
    assert all(pwm.shape[1] == 4 for pwm in jaspar.pwms)


@pytest.mark.parametrize("matrix_id", ["MA0004.1", CTCF])
def test_pwm_matches_biopython_jaspar_pssm(matrix_id):
    from Bio import motifs
    from Bio.motifs import jaspar as bio_jaspar

    counts = jaspar_counts(matrix_id)
    motif = motifs.Motif(counts={b: counts[:, i].tolist() for i, b in enumerate(BASES)})
    motif.pseudocounts = bio_jaspar.calculate_pseudocounts(motif)
    expected = np.array([motif.pssm[b] for b in BASES]).T
    np.testing.assert_allclose(pwm_from_counts(counts), expected, rtol=1e-9)


@pytest.mark.parametrize("background", [(0.25, 0.25, 0.25, 0.25), (0.3, 0.2, 0.2, 0.3)])
def test_pvalues_match_brute_force_enumeration(background):
    counts = jaspar_counts("MA0004.1")  # Arnt, 6 bp: all 4,096 sequences
    motifs = motif_set(["MA0004.1"], ["Arnt"], [counts], background=background)
    pwm, bg = motifs.pwms[0], np.array(background)
    seqs = np.array(list(itertools.product(range(4), repeat=len(pwm))))
    scores = pwm[np.arange(len(pwm)), seqs].sum(axis=1)
    weights = bg[seqs].prod(axis=1)
    thresholds = np.unique(np.round(scores, 6))
    expected = [weights[scores >= s - 1e-9].sum() for s in thresholds]
    got = motifs.pvalues(np.zeros(len(thresholds), dtype=int), thresholds)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    assert motifs.pvalues(np.array([0]), np.array([scores.max() + 0.01]))[0] == 0
    assert motifs.pvalues(np.array([0]), np.array([scores.min() - 5]))[0] == pytest.approx(1.0)


def test_pvalues_of_a_long_motif_match_sampled_sequences(jaspar):
    """CTCF (19 bp): P(S >= s) against 200,000 random placements, where that is well estimated."""
    i = jaspar.ids.index(CTCF)
    pwm = jaspar.pwms[i]
    seqs = np.random.default_rng(0).integers(0, 4, (200_000, len(pwm)))
    scores = pwm[np.arange(len(pwm)), seqs].sum(axis=1)
    for q in (0.5, 0.9, 0.99, 0.999):
        s = np.sort(scores)[int(q * len(scores))]  # a score that occurs
        p = jaspar.pvalues(np.array([i]), np.array([s]))[0]
        sampled = np.mean(scores >= s - 1e-9)
        assert abs(sampled - p) < 4 * np.sqrt(p * (1 - p) / len(scores))


# ----- the scan -----------------------------------------------------------------


# SP1 (9 bp): one change at its most informative column drops the consensus below p = 1e-4;
# CTCF (15 bp) keeps a site at 1e-4 after one change (it "changes"), so it is tested at 1e-6.
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("motif_id", "threshold"), [(SP1, 1e-4), (CTCF, 1e-6)])
def test_scan_finds_planted_motif_broken_and_created(jaspar, motif_id, threshold, reverse):
    window, k, best, worst = planted(jaspar, motif_id, reverse)
    pwm_len = len(jaspar.pwms[jaspar.ids.index(motif_id)])
    strand = "-" if reverse else "+"

    broken = scan_snvs(window[None], [BASES[worst]], jaspar, ["snv"], p_threshold=threshold)
    row = broken[broken.motif_id == motif_id].iloc[0]
    assert row.effect == "breaks" and row.strand == strand
    assert row.ref_p < threshold / 10 and row.alt_p >= threshold
    assert row.delta < -5 and row.delta == pytest.approx(row.alt_score - row.ref_score)
    assert row.hit_offset == -k and row.motif_length == pwm_len

    window[jaspar.flank] = worst  # the reverse SNV: the worst base in the reference, consensus as ALT
    created = scan_snvs(window[None], np.array([best]), jaspar, ["snv"], p_threshold=threshold)
    row2 = created[created.motif_id == motif_id].iloc[0]
    assert row2.effect == "creates" and row2.strand == strand
    assert row2.delta == pytest.approx(-row.delta) and row2.alt_score == pytest.approx(row.ref_score)


def naive_best(pwm: np.ndarray, window: np.ndarray, center: int) -> float:
    """Best score of the placements of `pwm` that cover `center`, on both strands, by plain loops."""
    m, best = len(pwm), -np.inf
    pwm = np.hstack([pwm, np.zeros((m, 1))])  # N scores 0
    rc_window = np.array([3, 2, 1, 0, 4])[window][::-1]
    for seq, c in ((window, center), (rc_window, len(window) - 1 - center)):
        for start in range(c - m + 1, c + 1):
            best = max(best, sum(pwm[j, seq[start + j]] for j in range(m)))
    return best


def test_scan_matches_plain_loops(jaspar):
    """Every (SNV, motif) pair the loops call a site at p < 0.01 is reported, with the same scores."""
    rng = np.random.default_rng(3)
    chosen = rng.choice(len(jaspar), 25, replace=False)
    small = motif_set(
        [jaspar.ids[i] for i in chosen],
        [jaspar.names[i] for i in chosen],
        [2 ** jaspar.pwms[i] * 100 for i in chosen],  # counts whose PWM is close to the original
    )
    n, w = 12, 2 * small.flank + 1
    windows = rng.integers(0, 4, (n, w)).astype(np.uint8)
    windows[3, :5] = 4  # N at the edge: scores 0 there
    alts = (windows[:, w // 2] + rng.integers(1, 4, n)) % 4
    table = scan_snvs(windows, alts, small, [f"v{i}" for i in range(n)], p_threshold=0.01)
    found = table.set_index(["variant_id", "motif_id"])
    expected = 0
    for v in range(n):
        alt_window = windows[v].copy()
        alt_window[w // 2] = alts[v]
        for m, pwm in enumerate(small.pwms):
            ref_s, alt_s = naive_best(pwm, windows[v], w // 2), naive_best(pwm, alt_window, w // 2)
            ref_p, alt_p = small.pvalues(np.array([m, m]), np.array([ref_s, alt_s]))
            if min(ref_p, alt_p) >= 0.01:
                assert (f"v{v}", small.ids[m]) not in found.index
                continue
            expected += 1
            row = found.loc[(f"v{v}", small.ids[m])]
            assert row.ref_score == pytest.approx(ref_s, abs=1e-6) or row.alt_score == pytest.approx(
                alt_s, abs=1e-6
            )
            # The reported strand is the one with the strongest site; its best scores bound the loops'.
            assert max(row.ref_score, row.alt_score) == pytest.approx(max(ref_s, alt_s), abs=1e-6)
            assert row.ref_score <= ref_s + 1e-6 and row.alt_score <= alt_s + 1e-6
    assert expected == len(table) and expected > 20


def test_scan_rejects_non_snv(jaspar):
    window = np.zeros(2 * jaspar.flank + 1, dtype=np.uint8)
    with pytest.raises(InputError, match="variant x: expected an SNV"):
        scan_snvs(window[None], ["A"], jaspar, ["x"])  # REF A, ALT A
    with pytest.raises(InputError, match="variant x: ALT 'AG' is not a single base"):
        scan_snvs(window[None], ["AG"], jaspar, ["x"])


def test_snv_windows_read_fasta_and_check_ref(tmp_path):
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">r1\nACGTACGTAC\nGTNNacgt\n")
    tokens = snv_windows(fasta, ["r1", "r1"], [1, 12], ["A", "T"], flank=3, variant_ids=["a", "b"])
    np.testing.assert_array_equal(tokens[0], encode("NNNACGT"))
    np.testing.assert_array_equal(tokens[1], encode("ACGTNNA"))
    with pytest.raises(InputError, match="variant b: REF 'G' does not match the reference base 'T'"):
        snv_windows(fasta, ["r1"], [12], ["G"], flank=3, variant_ids=["b"])
    with pytest.raises(InputError, match="variant c: chromosome 'chr1' not found"):
        snv_windows(fasta, ["chr1"], [1], ["A"], flank=3, variant_ids=["c"])
    with pytest.raises(InputError, match="position 19 is outside record 'r1'"):
        snv_windows(fasta, ["r1"], [19], ["A"], flank=3)


# ----- enrichment and logos ------------------------------------------------------


def fisher_two_sided(table) -> float:
    """Two-sided Fisher p from the hypergeometric distribution (the sum over tables no more likely)."""
    (a, b), (c, d) = table
    dist = hypergeom(a + b + c + d, a + c, a + b)
    support = np.arange(max(0, a + b + a + c - (a + b + c + d)), min(a + b, a + c) + 1)
    probs = dist.pmf(support)
    return float(probs[probs <= dist.pmf(a) * (1 + 1e-7)].sum())


def test_enrichment_is_fishers_exact_test():
    groups = {
        "supported drivers": np.array([True] * 7 + [False] * 13),
        "unsupported drivers": np.array([True] * 2 + [False] * 18),
        "window SNVs": np.array([True] * 30 + [False] * 170),
    }
    table = motif_enrichment(groups)
    assert list(zip(table.group_a, table.group_b, strict=True)) == [
        ("supported drivers", "unsupported drivers"),
        ("supported drivers", "window SNVs"),
        ("unsupported drivers", "window SNVs"),
    ]
    first = table.iloc[0]
    assert (first.n_a, first.changed_a, first.n_b, first.changed_b) == (20, 7, 20, 2)
    assert first.fraction_a == pytest.approx(0.35) and first.odds_ratio == pytest.approx(7 * 18 / (13 * 2))
    for row in table.itertuples():
        expected = fisher_two_sided(
            [[row.changed_a, row.n_a - row.changed_a], [row.changed_b, row.n_b - row.changed_b]]
        )
        assert row.p_value == pytest.approx(expected, rel=1e-9)


def test_changed_snvs_counts_breaks_and_creates_only():
    scan = pd.DataFrame({"variant_id": ["a", "b", "c"], "effect": ["breaks", "changes", "creates"]})
    np.testing.assert_array_equal(changed_snvs(scan, ["a", "b", "c", "d"]), [True, False, True, False])


def test_ism_logo_matrix():
    ism = np.array([[0.0, -1.0, -2.0, 0.0], [0.5, 0.0, 0.5, 2.0]])
    centred = ism_logo_matrix(ism, positions=[-1, 0])
    assert list(centred.columns) == ["A", "C", "G", "T"] and list(centred.index) == [-1, 0]
    np.testing.assert_allclose(centred.to_numpy().sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(centred.loc[-1], [0.75, -0.25, -1.25, 0.75])
    by_reference = ism_logo_matrix(ism, reference=np.array([0, 1]))
    np.testing.assert_allclose(by_reference.to_numpy(), [[1.0, 0, 0, 0], [0, -1.0, 0, 0]])


# ----- the store command ---------------------------------------------------------


def make_store(tmp_path, jaspar, with_fasta: bool = True):
    """A hand-made store on one 400-bp record: a driver on a planted SP1 site plus random SNVs."""
    rng = np.random.default_rng(7)
    seq = rng.integers(0, 4, 400).astype(np.uint8)
    site, k, best, worst = planted(jaspar, SP1, reverse=False)
    seq[100 : 100 + len(site)] = site  # the driver is at 0-based 100 + flank
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chrT\n" + "".join(BASES[t] for t in seq) + "\n")
    driver_pos = 100 + jaspar.flank + 1
    positions = np.concatenate([[driver_pos], rng.choice(np.arange(5, 395), 30, replace=False)])
    positions = np.unique(positions)
    rows = []
    for pos in positions:
        ref = seq[pos - 1]
        alt = worst if pos == driver_pos else (ref + 1 + rng.integers(0, 3)) % 4
        rows.append({"variant_id": f"chrT_{pos}", "chrom": "chrT", "pos": int(pos),
                     "ref": BASES[ref], "alt": BASES[alt]})  # fmt: skip
    variants = pd.DataFrame(rows)
    for column in VARIANT_COLUMNS:
        if column not in variants:
            variants[column] = 0.0
    variants["gene_id"] = "G1"
    variants["is_driver"] = variants.pos.isin(positions[:4]) | (variants.pos == driver_pos)
    variants["is_main_driver"] = variants.pos == driver_pos
    variants["supported"] = variants.pos == driver_pos
    manifest = {"dataset": "computed"}
    if with_fasta:
        manifest["inputs"] = {"fasta": {"path": str(fasta), "sha256": "x"}}
    store = ResultsStore.create(tmp_path / "store", manifest)
    store.write_table("variants", variants)
    return store, fasta, f"chrT_{driver_pos}", variants


def test_motifs_command_writes_tables(tmp_path, jaspar, capsys):
    store, _, driver, variants = make_store(tmp_path, jaspar)
    assert main(["motifs", str(store.path)]) == 0
    assert "motif changes" in capsys.readouterr().out
    scan = pd.read_parquet(store.path / "motifs.parquet")
    row = scan[(scan.variant_id == driver) & (scan.motif_id == SP1)].iloc[0]
    assert row.effect == "breaks" and row.delta < -5 and row.chrom == "chrT"
    enrichment = pd.read_parquet(store.path / "motif_enrichment.parquet")
    first = enrichment.iloc[0]
    n_drivers = int(variants.is_driver.sum())
    assert (first.n_a, first.changed_a, first.n_b) == (1, 1, n_drivers - 1)
    assert enrichment.iloc[1].n_b == len(variants)  # all window SNVs: fewer than the sample size
    settings = json.loads((store.path / "manifest.json").read_text())["motifs"]
    assert settings["snvs_scanned"] == len(variants) and settings["p_threshold"] == 1e-4


def test_motifs_command_background_sample_and_fasta_option(tmp_path, jaspar):
    store, fasta, _, variants = make_store(tmp_path, jaspar, with_fasta=False)
    out = tmp_path / "scan.parquet"
    assert (
        main(["motifs", str(store.path), "--fasta", str(fasta), "--out", str(out), "--background", "10"]) == 0
    )
    enrichment = pd.read_parquet(tmp_path / "motif_enrichment.parquet")
    assert enrichment.iloc[1].n_b == 10
    assert json.loads((tmp_path / "scan.json").read_text())["snvs_scanned"] >= 10  # the record beside it
    assert "motifs" not in json.loads((store.path / "manifest.json").read_text())  # the store is untouched


def test_motifs_command_without_fasta_is_a_clear_error(tmp_path, jaspar, capsys):
    store, _, _, _ = make_store(tmp_path, jaspar, with_fasta=False)
    assert main(["motifs", str(store.path)]) == 2
    err = capsys.readouterr().err
    assert "no reference FASTA recorded" in err and "--fasta" in err
    assert not (store.path / "motifs.parquet").exists()
    assert main(["motifs", str(store.path), "--fasta", str(tmp_path / "none.fa")]) == 2
    assert "none.fa: reference FASTA not found" in capsys.readouterr().err


def test_motifs_command_on_published_store_explains_why_not(capsys):
    assert main(["motifs", str(ROOT / "data" / "published")]) == 2
    assert "no REF/ALT alleles" in capsys.readouterr().err
