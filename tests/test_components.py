"""Dashboard views on small synthetic stores: figures valid for plotly, numbers checked independently."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import components
from benchmarks.synthetic_store import make_synthetic_store
from components import (
    expression,
    gene_card,
    genotype,
    ism_eqtl,
    ism_logo,
    locus,
    navigation,
    search,
    snv_common,
    theme,
    tss_hist,
    volcano,
)
from components.data import Datasets
from components.selection import Selection, gene_url, parse_url
from tests.cohort_files import bcftools_dosage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("stores")
    make_synthetic_store(base / "full", n_genes=40, n_people=60, n_snvs=80, seed=3, with_genotypes=True)
    make_synthetic_store(base / "drivers_only", n_genes=40, n_people=60, n_snvs=80, seed=4, with_people=False)
    return base


@pytest.fixture(scope="module")
def datasets(stores):
    return Datasets([stores / "full", stores / "drivers_only"])


def selection(datasets, gene="DDX11", dataset="full", snv=None):
    search_part = f"?dataset={dataset}" + (f"&snv={snv}" if snv else "")
    sel = parse_url(datasets, f"/gene/{gene}", search_part)
    assert sel.gene_id is not None, sel.message
    return sel


def valid(fig) -> go.Figure:
    """Plotly's own validation of a figure dict: raises on any unknown property or bad value."""
    return go.Figure(fig)


def test_every_view_renders_valid_figures_in_every_state(datasets):
    states = [Selection("full"), Selection("drivers_only")]
    for dataset in ("full", "drivers_only"):
        for gene in datasets.genes(dataset).gene_name[:8]:
            states.append(selection(datasets, gene, dataset))
    for sel in states:
        fig, shown = volcano.render(datasets, sel, None)
        valid(fig)
        assert shown == volcano.shown_key(datasets, sel.dataset, None)
        assert gene_card.render(datasets, sel)
        for view in (expression, ism_eqtl, locus, tss_hist, genotype):
            fig, note = view.render(datasets, sel)
            valid(fig)
            assert isinstance(note, str)


def test_volcano_groups_and_bh_line_match_statsmodels(datasets):
    sel = selection(datasets)
    data = volcano.frame(datasets, sel)
    fig = valid(volcano.figure(data, sel.gene_id))
    genes = datasets.genes("full")
    reject, q, _, _ = multipletests(genes.p_null, alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(genes.q_bh, q, rtol=1e-9)
    sig = genes.significant.to_numpy()
    assert list(reject) == list(sig)
    counts = [len(t.x) for t in fig.data[:3]]
    assert counts == [(~sig).sum(), (sig & (genes.r > 0)).sum(), (sig & (genes.r <= 0)).sum()]
    line = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert len(line) == 1
    np.testing.assert_allclose(line[0].y0, -np.log10(genes.p_null[reject].max()))
    highlight = fig.data[volcano.HIGHLIGHT_TRACE]
    row = genes.loc[genes.gene_id == sel.gene_id].iloc[0]
    assert highlight.x[0] == pytest.approx(row.r)
    assert highlight.y[0] == pytest.approx(-np.log10(row.p_null))


def test_volcano_patch_moves_only_the_highlight(datasets):
    sel = selection(datasets, "GSTM3")
    patch, shown = volcano.render(datasets, sel, volcano.shown_key(datasets, "full", None))
    assert shown.startswith("full@")
    ops = patch.to_plotly_json()["operations"]
    assert len(ops) == 1 and ops[0]["location"] == ["data", volcano.HIGHLIGHT_TRACE]
    assert list(ops[0]["params"]["value"]["customdata"][0]) == [sel.gene_id, "GSTM3"]


def test_expression_r_and_dosage_colouring(datasets):
    sel = selection(datasets)
    data = expression.frame(datasets, sel)
    people = datasets.store("full").people(sel.gene_id)
    fig = valid(expression.render(datasets, sel)[0])
    r = stats.pearsonr(people.predicted, people.observed).statistic
    label = fig.layout.annotations[0].text
    assert f"r = {r:.3f}" in label and f"n = {len(people)}" in label
    mine = packed_dosage(datasets.store("full").path, sel.gene_id)[sel.snv]
    by_dosage = mine.value_counts()
    assert [len(t.x) for t in fig.data[:3]] == [by_dosage.get(g, 0) for g in (0, 1, 2)]
    assert (data.dosage.to_numpy() == mine[data.person_id].to_numpy()).all()


def test_expression_without_genotypes_colours_by_haplotype_difference(datasets):
    sel = selection(datasets)
    data = expression.frame(datasets, sel).drop(columns="dosage")
    fig = valid(expression.figure(data, "DDX11", sel.snv))
    np.testing.assert_allclose(fig.data[0].marker.color, data.hap1 - data.hap2)


def test_views_without_people_say_so(datasets):
    sel = selection(datasets, dataset="drivers_only")
    fig, note = expression.render(datasets, sel)
    assert "no per-person predictions" in fig["layout"]["annotations"][0]["text"]
    assert "no per-person predictions" in note
    fig, _ = genotype.render(datasets, sel)
    assert "no per-person" in fig["layout"]["annotations"][0]["text"]
    assert expression.frame(datasets, sel).empty


def test_ism_eqtl_driver_classes_and_sizes(datasets):
    sel = selection(datasets, "GSTM3")
    data = ism_eqtl.frame(datasets, sel).drop(columns=snv_common.LD_COLUMN)  # a store without genotypes
    fig = valid(ism_eqtl.figure(snv_common.SnvTable.from_frame(data), sel.snv))
    variants = datasets.store("full").variants(sel.gene_id)
    drivers = variants.loc[variants.is_driver]
    other, supported, unsupported = fig.data[:3]
    assert len(other.x) == (~variants.is_driver).sum()
    assert sorted(supported.text) == sorted(drivers.loc[drivers.supported].variant_id)
    assert sorted(unsupported.text) == sorted(drivers.loc[~drivers.supported].variant_id)
    order = np.argsort(data.maf.to_numpy())
    assert np.all(np.diff(snv_common.marker_size(data.maf)[order]) >= 0)
    selected = fig.data[-1]
    assert selected.text[0] == sel.snv
    assert snv_common.clicked_snv({"points": [{"text": sel.snv, "x": 0}]}) == sel.snv
    assert snv_common.clicked_snv({"points": [{"x": 0}]}) is None
    assert selected.x[0] == pytest.approx(variants.set_index("variant_id").ism[sel.snv])
    x_range, y_range = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x_range[0] == -x_range[1] and y_range[0] == -y_range[1]


def test_locus_positions_in_kb_from_tss(datasets):
    sel = selection(datasets)
    fig = valid(locus.render(datasets, sel)[0])
    variants = datasets.store("full").variants(sel.gene_id)
    ld_bins = [t for t in fig.data if t.legendgroup == "ld"]  # every SNV once, in its r² bin
    xs = np.concatenate([np.asarray(t.x, float) for t in ld_bins])
    np.testing.assert_allclose(np.sort(xs), np.sort(variants.tss_distance / 1000))


@pytest.mark.parametrize("view", [locus, ism_eqtl])
def test_ld_views_colour_by_r2_bins_with_the_reference_marked(datasets, view):
    """LocusZoom's convention: five 0.2-wide r² bins with the selected SNV, the reference a purple
    diamond, drivers ringed in their support colour; r² from numpy on the stored dosages."""
    sel = selection(datasets, "GSTM3")
    fig, note = view.render(datasets, sel)
    fig = valid(fig)
    dosage = packed_dosage(datasets.store("full").path, sel.gene_id)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = dosage.astype(float).corrwith(dosage[sel.snv].astype(float)) ** 2
    bins = {t.name.split(" (")[0]: list(t.text) for t in fig.data if t.legendgroup == "ld"}
    got = {v: label for label, ids in bins.items() for v in ids}
    assert sorted(got) == sorted(r2.index)  # every SNV in one bin
    for v, value in r2.items():
        if np.isnan(value):
            assert got[v] == "no r²"
        elif min(abs(value - edge) for edge in (0.2, 0.4, 0.6, 0.8)) > 1e-5:  # not on an edge
            assert got[v] == snv_common.LD_LABELS[min(int(value / 0.2), 4)], (v, value)
    assert all(label.startswith("LD r²") for label in bins if label != "no r²")
    reference = fig.data[-1]
    assert reference.marker.symbol == "diamond" and reference.marker.color == theme.LD_REFERENCE
    assert list(reference.text) == [sel.snv] and "LD reference" in reference.name
    rings = [t for t in fig.data if t.legendgroup == "drivers"]
    drivers = datasets.store("full").variants(sel.gene_id).query("is_driver")
    assert sorted(v for t in rings for v in t.text) == sorted(drivers.variant_id)
    assert f"among this dataset's {len(dosage):,} people" in note


def test_tss_histogram_counts_match_an_independent_binning(datasets):
    sel = selection(datasets, "GSTM3")
    data = tss_hist.frame(datasets, sel)
    drivers = datasets.store("full").drivers()
    d = drivers.tss_distance.to_numpy()
    for label, half, width in tss_hist.PANELS:
        part = data.loc[data.panel == label]
        inside = d[(d >= -half) & (d <= half)]
        index = np.minimum((inside + half) // width, 2 * half // width - 1)  # right edge in the last bin
        expected = np.bincount(index.astype(int), minlength=2 * half // width)
        assert list(part.drivers_all_genes) == list(expected)
    mine = datasets.store("full").variants(sel.gene_id).query("is_driver")
    wide = data.loc[data.panel == tss_hist.PANELS[0][0]]
    assert wide.drivers_selected_gene.sum() == (mine.tss_distance.abs() <= 70_000).sum() == 3
    fig = valid(tss_hist.figure(data, tss_hist.GeneDrivers.from_frame(mine), "GSTM3"))
    markers = [t for t in fig.data if t.type == "scatter" and t.xaxis == "x"]
    assert sum(len(t.x) for t in markers) == 3


def test_genotype_violins_group_people_by_dosage(datasets):
    sel = selection(datasets)
    data = genotype.frame(datasets, sel)
    fig = valid(genotype.figure(data, sel.snv))
    people = datasets.store("full").people(sel.gene_id).set_index("person_id")
    for trace in fig.data:
        g = int(trace.name[0])
        ids = data.loc[data.dosage == g, "person_id"]
        np.testing.assert_allclose(trace.y, people.observed[ids])


def test_genotype_view_without_genotype_table_explains(stores, tmp_path):
    datasets = Datasets([stores / "drivers_only"])
    sel = selection(datasets, dataset="drivers_only")
    assert datasets.people_dosage("drivers_only", sel.gene_id, sel.snv) is None


def packed_dosage(store_path, gene_id: str) -> pd.DataFrame:
    """People x SNVs dosage decoded here from the raw bits, by the layout compute/store/genotypes.py
    documents (SNV-major, hap1 then hap2, people packed most significant bit first)."""
    rows = pd.read_parquet(store_path / "genotypes.parquet", filters=[("gene_id", "==", gene_id)])
    row = rows.iloc[0]
    n, width = int(row.n_people), (int(row.n_people) + 7) // 8
    bits = np.frombuffer(row.bits, np.uint8).reshape(int(row.n_snvs), 2, width)
    haps = np.array([[[(b[p // 8] >> (7 - p % 8)) & 1 for p in range(n)] for b in snv] for snv in bits])
    return pd.DataFrame(haps.sum(axis=1).T, index=list(row.person_ids), columns=list(row.variant_ids))


def person_dosage(datasets, name: str, gene_id: str, variant_id: str) -> pd.Series:
    """Datasets.people_dosage by person_id (the people rows it is aligned with)."""
    people = datasets.gene(name, gene_id).people["person_id"]
    return pd.Series(datasets.people_dosage(name, gene_id, variant_id), index=people.to_numpy(object))


def test_dosage_reader_matches_the_raw_bits(datasets):
    for gene_id in datasets.genes("full").gene_id[::9]:
        expected = packed_dosage(datasets.store("full").path, gene_id)
        for variant_id in expected.columns[::13]:
            got = person_dosage(datasets, "full", gene_id, variant_id)
            assert got.to_dict() == expected[variant_id].to_dict()


def test_gene_card_shows_the_statistics_and_drivers(datasets):
    sel = selection(datasets, "GSTM3")
    gene = datasets.genes("full").set_index("gene_name").loc["GSTM3"]
    text = str(gene_card.render(datasets, sel))
    for label, value in gene_card.rows(gene):
        assert label in text and value in text
    assert f"{gene.r:.3f}" in text
    drivers = datasets.store("full").variants(sel.gene_id).query("is_driver")
    assert all(v in text for v in drivers.variant_id)


def find_by_id(node, wanted: str):
    """The Dash component with id `wanted` in a rendered tree, else None."""
    if isinstance(node, (list, tuple)):
        return next((f for f in (find_by_id(n, wanted) for n in node) if f is not None), None)
    if getattr(node, "id", None) == wanted:
        return node
    children = getattr(node, "children", None)
    return None if children is None or isinstance(children, str) else find_by_id(children, wanted)


def test_gene_card_says_when_the_model_is_a_demo_model(stores, tmp_path):
    import shutil

    from compute.store import ResultsStore

    demo = tmp_path / "demo"
    shutil.copytree(stores / "full", demo)
    note = "demo model: small random Enformer, not trained"
    ResultsStore(demo).update_manifest(dataset="demo", demo_model=True, model_note=note)
    datasets = Datasets([stores / "full", demo])
    assert datasets.model_note("demo") == note and datasets.model_note("full") is None
    for sel in (selection(datasets, "GSTM3", dataset="demo"), Selection("demo")):
        shown = find_by_id(gene_card.render(datasets, sel), "card-model-note")
        assert shown is not None and shown.children == note
    # a store that is not a demo shows no note, in either state
    for sel in (selection(datasets, "GSTM3", dataset="full"), Selection("full")):
        assert find_by_id(gene_card.render(datasets, sel), "card-model-note") is None
    # the flag, not the note text, decides: demo_model false hides a leftover note
    ResultsStore(demo).update_manifest(demo_model=False)
    assert find_by_id(gene_card.render(Datasets([demo]), Selection("demo")), "card-model-note") is None


def test_search_ranks_exact_then_prefix_then_substring(datasets):
    genes = datasets.genes("full")
    hits = search.matches(genes, "syn1")
    names = list(hits.gene_name)
    assert names[0] == "SYN1" or names[0].startswith("SYN1")
    assert all("SYN1" in n for n in names)
    assert search.matches(genes, "ddx11").gene_name.iloc[0] == "DDX11"
    by_id = search.matches(genes, genes.gene_id.iloc[5])
    assert by_id.gene_id.iloc[0] == genes.gene_id.iloc[5]
    assert search.matches(genes, "").empty and search.matches(genes, "zzzz").empty
    assert len(search.matches(genes, "S", limit=5)) == 5
    assert search.options(hits)[0]["value"] == hits.gene_id.iloc[0]


@pytest.mark.parametrize(
    "path, query, message",
    [
        ("/gene/..%2F..%2Fetc", "", "not a gene name"),
        ("/gene/../../etc/passwd", "", "not a gene name"),
        ("/gene/%00", "", "not a gene name"),
        ("/gene/<script>", "", "not a gene name"),
        ("/gene/NOSUCHGENE", "", "No gene 'NOSUCHGENE'"),
        ("/etc/passwd", "", "not a view"),
        ("/gene/DDX11", "?dataset=../../etc", "no dataset called 'that'"),
        ("/gene/DDX11", "?dataset=nope", "no dataset called 'nope'"),
        ("/gene/DDX11", "?snv=rs_nope", "'rs_nope' is not a SNV"),
        ("/gene/DDX11", "?snv=%3Cb%3E", "'that SNV' is not a SNV"),
    ],
)
def test_bad_urls_give_a_message_not_an_error(datasets, path, query, message):
    sel = navigation.selection_for(datasets, path, query)
    assert message in sel.message
    assert sel.dataset in datasets.names


def test_urls_round_trip(datasets):
    sel = selection(datasets, "gstm3")
    assert datasets.genes("full").set_index("gene_id").gene_name[sel.gene_id] == "GSTM3"
    variants = datasets.store("full").variants(sel.gene_id)
    assert sel.snv == variants.loc[variants.is_main_driver, "variant_id"].iloc[0]
    other = variants.variant_id.iloc[0]
    url = gene_url("full", navigation.url_name(datasets, "full", sel.gene_id), other)
    path, query = url.split("?")
    assert path == "/gene/GSTM3"
    again = parse_url(datasets, path, "?" + query)
    assert (again.gene_id, again.snv, again.message) == (sel.gene_id, other, None)
    by_id = parse_url(datasets, f"/gene/{sel.gene_id}", "")
    assert by_id.gene_id == sel.gene_id
    assert parse_url(datasets, "/", "?dataset=drivers_only") == Selection("drivers_only")


def test_csv_frames_hold_the_plotted_data(datasets):
    sel = selection(datasets)
    for view in (volcano, expression, ism_eqtl, locus, tss_hist, genotype):
        frame = view.frame(datasets, sel)
        assert len(frame) > 0, view.__name__
        assert frame.to_csv(index=False).count("\n") == len(frame) + 1


def test_one_gene_switch_reads_each_table_once(stores, monkeypatch):
    datasets = Datasets([stores / "full"])
    store = datasets.store("full")
    calls = []
    for name in ("variants", "people", "null", "genotype_row"):
        original = getattr(store, name)
        monkeypatch.setattr(
            store, name, lambda gene_id, _o=original, _n=name: calls.append(_n) or _o(gene_id)
        )
    sel = navigation.selection_for(datasets, "/gene/SYN30", "?dataset=full")
    for view in components.GENE_VIEWS:
        view.render(datasets, sel)
    assert sorted(calls) == ["genotype_row", "people", "variants"]  # no view shows the null draws


def test_app_layout_ids_and_offline_page(stores):
    from app import create_app

    app = create_app([stores / "full", stores / "drivers_only"])
    assert app.config.serve_locally
    assert app.datasets.names == ["full", "drivers_only"]
    html = app.server.test_client().get("/gene/DDX11").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "/assets/style.css" in html
    layout = str(app.layout)
    for view in ("volcano", "expression", "ism_eqtl", "locus", "tss_hist", "genotype"):
        for suffix in ("graph", "png", "svg", "csv", "download"):
            assert f"{view}-{suffix}" in layout


def test_duplicate_store_names_get_suffixes(stores):
    datasets = Datasets([stores / "full", stores / "full"])
    assert datasets.names == ["full", "full-2"]


def test_web_process_never_imports_torch():
    code = "import sys, app, components, docs.screenshots; assert 'torch' not in sys.modules, 'torch'"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_command_line_refuses_a_missing_store(tmp_path, capsys):
    from app import main

    assert main(["--results", str(tmp_path / "none")]) == 2
    assert "not a results store" in capsys.readouterr().err


PUBLISHED = ROOT / "data" / "published"
needs_published = pytest.mark.skipif(
    not (PUBLISHED / "manifest.json").is_file(), reason="data/published is not in this checkout"
)


@needs_published
def test_published_store_matches_the_paper_in_every_view():
    datasets = Datasets([PUBLISHED])
    genes = datasets.genes("published")
    data = volcano.frame(datasets, Selection("published"))
    fig = valid(volcano.figure(data, None))
    # SOURCE.md: about 599 BH-significant genes, about 195 of them with r < 0
    assert abs(len(fig.data[1].x) + len(fig.data[2].x) - 599) <= 5
    assert abs(len(fig.data[2].x) - 195) <= 5
    ddx11 = selection(datasets, "DDX11", "published")
    text = str(gene_card.render(datasets, ddx11))
    assert "0.846" in text and "+56 bp" in text and "supported, main" in text
    fig, note = expression.render(datasets, ddx11)
    assert "no per-person predictions" in note
    gstm3 = selection(datasets, "GSTM3", "published")
    fig = valid(ism_eqtl.render(datasets, gstm3)[0])
    unsupported = [t for t in fig.data if t.name.startswith("unsupported driver")][0]
    assert len(unsupported.text) == 2
    assert all(x < 0 for x in unsupported.x) and all(y > 0 for y in unsupported.y)
    for gene in list(genes.gene_name.sample(25, random_state=1)) + ["DDX11", "GSTM3"]:
        sel = selection(datasets, gene, "published")
        assert gene_card.render(datasets, sel)
        for view in (expression, ism_eqtl, locus, tss_hist, genotype):
            valid(view.render(datasets, sel)[0])


DEMO = ROOT / "data" / "demo"
needs_demo = pytest.mark.skipif(
    not (DEMO / "manifest.json").is_file(), reason="data/demo is not in this checkout"
)


@needs_demo
def test_demo_store_in_the_switcher_with_its_note_in_every_view():
    from app import default_store_paths

    assert DEMO in default_store_paths()
    datasets = Datasets([PUBLISHED, DEMO] if (PUBLISHED / "manifest.json").is_file() else [DEMO])
    assert "demo" in datasets.names and "fine-tuned" in datasets.describe("demo")
    note = "demo model: small Enformer fine-tuned on the demo cohort's training people"
    truth = pd.read_parquet(DEMO / "truth.parquet")
    for gene in truth.drop_duplicates("gene_id").groupby("scenario").head(1)["gene_name"]:
        sel = selection(datasets, gene, "demo")
        assert find_by_id(gene_card.render(datasets, sel), "card-model-note").children == note
        for view in (expression, ism_eqtl, locus, tss_hist, genotype):
            fig, text = view.render(datasets, sel)
            valid(fig)
        # the demo store has per-person genotypes: violins of observed expression by dosage
        dosage = person_dosage(datasets, "demo", sel.gene_id, sel.snv)
        row = datasets.gene("demo", sel.gene_id).variants.set_index("variant_id").loc[sel.snv]
        expected = bcftools_dosage(DEMO / "inputs" / "cohort.vcf.gz", str(row.chrom), int(row.pos), row.alt)
        assert dosage.to_dict() == expected[dosage.index].to_dict() and len(dosage) == 839
        # every panel has data: the ISM logo and the motifs of the selected driver too
        if datasets.gene("demo", sel.gene_id).variants.set_index("variant_id").loc[sel.snv, "is_driver"]:
            fig, text = ism_logo.render(datasets, sel)
            assert "motifs changed at this SNV" in text and "python -m compute" not in text


@needs_demo
@pytest.mark.parametrize(
    "dataset, asked, other, label",
    [("demo", None, "demo-alphagenome", "alphagenome rna_seq track 0, exons"),
     ("demo", "demo-borzoi", "demo-borzoi", "borzoi human track 7539, exons"),
     ("demo-borzoi", None, "demo", "enformer human track 4980, tss"),
     ("demo-borzoi", "demo-alphagenome", "demo-alphagenome", "alphagenome rna_seq track 0, exons")],
)  # fmt: skip
def test_models_view_compares_the_shipped_demo_stores(dataset, asked, other, label):
    """`python app.py` opens the Enformer, AlphaGenome and Borzoi demo stores of one cohort: the models
    view, asked through the server as the page asks it, compares any two of them gene by gene (the
    first other store by default; each model's r, checked with scipy) and shows the selected gene's
    drivers of both."""
    import json

    from app import create_app, default_store_paths
    from benchmarks.bench_load import outputs_of

    paths = {p.name: p for p in default_store_paths()}
    assert {"demo", "demo-alphagenome", "demo-borzoi"} <= set(paths)
    app = create_app(default_store_paths())
    key = next(k for k in app.callback_map if "models-graph.figure" in k)
    values = {"app-selection.data": {"dataset": dataset, "gene_id": "ENSG00000040608"},  # RTN4R
              "models-other.value": asked, "jobs-version.data": 0}  # fmt: skip
    inputs = [{**i, "value": values[f"{i['id']}.{i['property']}"]} for i in app.callback_map[key]["inputs"]]
    body = {"output": key, "outputs": outputs_of(key), "inputs": inputs,
            "changedPropIds": ["app-selection.data"]}  # fmt: skip
    answer = app.server.test_client().post(
        "/_dash-update-component", data=json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 200
    response = answer.get_json()["response"]
    if asked is None:  # the store shown is the value the page gets back
        assert response["models-other"]["value"] == other
    assert f"B: {other} ({label}" in response["models-note"]["children"]
    figure = valid(response["models-graph"]["figure"])
    points = {c[0]: (x, y) for t in figure.data[:-1] for c, x, y in zip(t.customdata, t.x, t.y, strict=True)}
    assert len(points) == 22
    for gene_id in ("ENSG00000040608", "ENSG00000128191"):  # RTN4R, DGCR8
        for r, store in zip(points[gene_id], (paths[dataset], paths[other]), strict=True):
            people = Datasets([store]).store(store.name).people(gene_id)
            assert r == pytest.approx(stats.pearsonr(people.predicted, people.observed).statistic, abs=1e-6)
    drivers = json.dumps(response["models-drivers"]["children"])
    assert "Drivers of ENSG00000040608, A and B" in drivers and "supported" in drivers


def test_demo_marks_held_out_people_and_reports_their_r():
    """The demo's model was fine-tuned on some of its people: the scatter marks training,
    validation and held-out people, and the r to quote (card, scatter) is the held-out one."""
    datasets = Datasets([DEMO])
    manifest = datasets.store("demo").manifest["finetune"]
    test_people, validation = set(manifest["test_people"]), set(manifest["validation_people"])
    sel = selection(datasets, "RTN4R", "demo")
    people = datasets.gene("demo", sel.gene_id).people
    held_out = people[people.person_id.isin(test_people)]
    r_test = stats.pearsonr(held_out.predicted, held_out.observed).statistic
    data = expression.frame(datasets, sel)
    assert (data.split == "test").sum() == len(test_people) == 126
    assert set(data.loc[data.split == "validation", "person_id"]) == validation
    fig, note = expression.render(datasets, sel)
    fig = valid(fig)
    legend = [t.name for t in fig.data if t.legendgroup == "split"]
    assert legend == [f"{label} ({n})" for (_, _, _, label), n in zip(
        expression.SPLIT_MARKERS.values(), (839 - 252, 126, 126), strict=True)]  # fmt: skip
    dosage_traces = fig.data[:3]
    symbols = {s for t in dosage_traces for s in t.marker.symbol}
    assert symbols == {"circle", "square", "diamond"}
    assert f"held-out r = {r_test:.3f}, n = 126" in fig.layout.annotations[0].text
    assert "held-out" in note
    card = gene_card.render(datasets, sel)
    assert f"r = {r_test:+.3f}" in str(find_by_id(card, "card-r").children[0])
    assert "held-out people (n = 126)" in str(find_by_id(card, "card-r"))
    assert (
        f"{float(datasets.gene('demo', sel.gene_id).gene['r']):+.3f}"
        in find_by_id(card, "card-r-all").children
    )
    # a store whose model saw none of its people reports the plain r
    assert Datasets([ROOT / "data" / "published"]).people_split("published") is None
