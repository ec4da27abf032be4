"""Dashboard views of the paper's analyses: gene-subset filter, single vs all-track r, ISM logo."""

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import no_update
from plotly.io.json import to_json_plotly
from scipy import stats

from benchmarks.synthetic_store import make_synthetic_store
from components import gene_card, gene_filter, ism_logo, sensitivity, tss_hist, volcano
from components.data import Datasets
from components.selection import Selection, parse_url
from compute.store import write_parquet_atomic

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "data" / "published"
needs_published = pytest.mark.skipif(
    not (PUBLISHED / "manifest.json").is_file(), reason="data/published is not in this checkout"
)


def valid(fig) -> go.Figure:
    return go.Figure(fig)


def selection(datasets, gene, dataset):
    sel = parse_url(datasets, f"/gene/{gene}", f"?dataset={dataset}")
    assert sel.gene_id is not None, sel.message
    return sel


@pytest.fixture(scope="module")
def published():
    return Datasets([PUBLISHED])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A computed-like store with an all-track r column, an ISM logo table and a motif scan."""
    path = tmp_path_factory.mktemp("analysis") / "computed"
    store = make_synthetic_store(path, n_genes=30, n_people=40, n_snvs=50, seed=5)
    rng = np.random.default_rng(0)
    genes = store.genes().copy()
    genes["r_all_tracks"] = genes["r"] + rng.normal(0, 0.1, len(genes))
    store.write_table("genes", genes)
    datasets = Datasets([path])
    sel = selection(datasets, "GSTM3", "computed")
    offsets = np.arange(-4, 5)
    ism = rng.normal(0, 0.2, size=(9, 4))
    ref = rng.integers(0, 4, 9)
    ism[np.arange(9), ref] = 0.0
    logo = pd.DataFrame({"gene_id": sel.gene_id, "variant_id": sel.snv, "offset": offsets,
                         "ref": ["ACGT"[b] for b in ref]})  # fmt: skip
    logo[list("ACGT")] = ism
    write_parquet_atomic(path / "ism_logo.parquet", logo)
    motifs = pd.DataFrame(
        {
            "variant_id": [sel.snv, sel.snv, "other"], "motif_id": ["MA1", "MA2", "MA3"],
            "motif_name": ["SP1", "CTCF", "X"], "strand": ["+", "-", "+"], "ref_score": [9.0, 3.0, 1.0],
            "alt_score": [4.0, 8.0, 1.0], "delta": [-5.0, 5.0, 0.0], "ref_p": [1e-5, 0.1, 0.1],
            "alt_p": [0.01, 2e-5, 0.1], "effect": ["breaks", "creates", "changes"], "hit_offset": [-3, -1, 0],
            "motif_length": [6, 5, 4],
        }
    )  # fmt: skip
    write_parquet_atomic(path / "motifs.parquet", motifs)
    return Datasets([path], test_set_list=PUBLISHED / "source" / "enformer_test_set_genes.txt"), sel, logo


@needs_published
def test_published_subsets_filter_volcano_and_histograms(published):
    genes = published.genes("published")
    assert published.subsets("published") == ["all", "susie", "test_set"]
    ids = set((PUBLISHED / "source" / "enformer_test_set_genes.txt").read_text().split())
    sel = Selection("published")
    for subset, expected in [("all", genes), ("test_set", genes.loc[genes.gene_id.isin(ids)])]:
        data = volcano.frame(published, sel, subset)
        assert sorted(data.gene_id) == sorted(expected.gene_id)
        fig, shown = volcano.render(published, sel, None, subset)
        fig = valid(fig)
        sig = expected.significant.to_numpy(bool)
        assert [len(t.x) for t in fig.data[:3]] == [
            (~sig).sum(), (sig & (expected.r > 0)).sum(), (sig & (expected.r <= 0)).sum()
        ]  # fmt: skip
        assert shown == volcano.shown_key(published, "published", subset)
    # a subset switch redraws the figure; a gene switch inside one subset patches the ring
    assert isinstance(volcano.render(published, sel, "published", "susie")[0], dict)
    patch, _ = volcano.render(published, sel, volcano.shown_key(published, "published", "susie"), "susie")
    assert not isinstance(patch, dict)
    drivers = published.store("published").drivers(columns=["gene_id", "tss_distance"])
    in_test = drivers.gene_id.isin(ids)
    data = tss_hist.frame(published, sel, "test_set")
    wide = data.loc[data.panel == tss_hist.PANELS[0][0]]
    assert wide.drivers_all_genes.sum() == (in_test & (drivers.tss_distance.abs() <= 70_000)).sum()
    fig, note = tss_hist.render(published, sel, "test_set")
    valid(fig)
    assert f"{in_test.sum():,} drivers in Enformer test set" in note
    assert gene_filter.count_text(published, "published", "test_set") == "627 of 6,820 genes"


@needs_published
def test_published_all_track_view_and_summary(published):
    genes = published.genes("published")
    sel = selection(published, "DDX11", "published")
    fig, note, summary, shown = sensitivity.render(published, sel, "all")
    fig = valid(fig)
    both = genes[["r", "r_fine_tuned"]].dropna()
    assert sum(len(t.x) for t in fig.data[:2]) == len(genes)
    ring = fig.data[-1]
    ddx11 = genes.set_index("gene_name").loc["DDX11"]
    assert ring.x[0] == pytest.approx(ddx11.r) and ring.y[0] == pytest.approx(ddx11.r_fine_tuned)
    # another gene of the same dataset and subset: only the ring moves (a Patch, not 6,820 points)
    gstm3 = selection(published, "GSTM3", "published")
    patch, note2, summary2, shown2 = sensitivity.render(published, gstm3, "all", shown)
    assert shown2 == shown == "published|all@" + published.version_tag("published")
    assert note2 is no_update and summary2 is no_update
    ops = patch.to_plotly_json()["operations"]
    assert len(ops) == 1 and ops[0]["location"] == ["data", sensitivity.HIGHLIGHT_TRACE]
    assert list(ops[0]["params"]["value"]["text"]) == ["GSTM3"]
    assert len(to_json_plotly(patch)) < 2_000 < len(to_json_plotly(fig.to_plotly_json()))
    rows = dict(sensitivity.summary_rows(published, "published", "all"))
    assert rows["significant at FDR 5%"] == "599 (195 with r < 0)"
    r = stats.pearsonr(both.r, both.r_fine_tuned).statistic
    assert rows["r across genes, track vs all tracks"] == f"{r:.3f} (n = {len(both):,})"
    # the paper: population-average r 0.58 on all genes, 0.51 on Enformer test-set genes
    assert rows["population-average r, all genes"].startswith("0.577 (n = 12,702)")
    assert rows["population-average r, Enformer test-set genes"].startswith("0.512 (n = 1,168)")
    test_rows = dict(sensitivity.summary_rows(published, "published", "test_set"))
    assert test_rows["genes"] == "627"
    assert "population-average r, all genes" in test_rows  # the comparison stays in view
    card = dict(gene_card.rows(ddx11))
    assert card["r, all tracks (elastic net)"] == f"{ddx11.r_fine_tuned:.3f}"
    frame = sensitivity.frame(published, sel, "susie")
    assert len(frame) == (genes.susie_brain_variant.notna() | genes.susie_cortex_variant.notna()).sum()


@needs_published
def test_published_logo_panel_explains_why_it_is_empty(published):
    sel = selection(published, "DDX11", "published")
    fig, note = ism_logo.render(published, sel)
    assert "no sequence" in fig["layout"]["annotations"][0]["text"] and "no sequence" in note
    assert ism_logo.frame(published, sel).empty


def test_computed_store_all_track_view(synthetic):
    datasets, sel, _ = synthetic
    genes = datasets.genes("computed")
    assert datasets.subsets("computed") == ["all", "test_set"]  # no SuSiE columns in a computed store
    fig = valid(sensitivity.render(datasets, sel, "susie")[0])  # unavailable subset: all genes
    assert sum(len(t.x) for t in fig.data[:2]) == len(genes)
    np.testing.assert_allclose(
        sorted(np.concatenate([t.y for t in fig.data[:2]])), sorted(genes.r_all_tracks)
    )


def test_store_without_all_track_r_says_so(tmp_path):
    make_synthetic_store(tmp_path / "plain", n_genes=10, n_people=20, n_snvs=20, seed=1)
    datasets = Datasets([tmp_path / "plain"])
    fig, note, _, _ = sensitivity.render(datasets, Selection("plain"), "all")
    assert "no all-track r" in note and "no all-track r" in fig["layout"]["annotations"][0]["text"]
    fig, note = ism_logo.render(datasets, selection(datasets, "DDX11", "plain"))
    assert "python -m compute ism-logo" in note


def test_logo_heights_and_motif_bars(synthetic):
    datasets, sel, logo = synthetic
    data = ism_logo.frame(datasets, sel)
    ism = logo[list("ACGT")].to_numpy()
    # height of the reference base = minus the mean of its three substitutions (written out)
    expected = -ism.sum(axis=1) / 3
    np.testing.assert_allclose(data.height, expected)
    fig, note = ism_logo.render(datasets, sel)
    fig = valid(fig)
    letters = [s for s in fig.layout.shapes if s.type == "path"]
    assert len(letters) == np.count_nonzero(expected)
    bars = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bars) == 2  # the two motifs of this SNV, not the other SNV's
    labels = sorted(a.text for a in fig.layout.annotations)
    assert labels[0].startswith("CTCF (-) creates") and labels[1].startswith("SP1 (+) breaks")
    assert "motifs changed at this SNV: 2" in note and "±4 bp" in note
    other = Selection("computed", sel.gene_id, "not_a_driver")
    assert "No ISM around this SNV" in ism_logo.render(datasets, other)[1]
