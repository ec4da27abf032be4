"""Sensitivity: the single-track r of every gene against the all-track (elastic-net) r, and summaries.

The scatter has one point per gene of the filter bar's subset; the selected
gene is ringed, a click selects a gene. Beside it, for the subset: genes,
significant genes (and how many with r < 0), r across genes of the two heads,
and the population-average r on all genes vs Enformer test-set genes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from dash import Dash, Patch, dcc, html, no_update

from components import gene_filter, theme
from components.data import Datasets
from components.export import register_exports
from components.selection import Selection
from compute.store import subsets as gene_subsets

VIEW = "sensitivity"
HEIGHT = 400
HIGHLIGHT_TRACE = 2  # the selected gene's ring, after the two point clouds


def layout() -> html.Section:
    panel = theme.figure_panel(
        VIEW,
        "Single track vs all tracks",
        description="Each point is a gene: r of the CAGE brain track (x) and of the elastic net over all "
        "5,313 tracks (y). Click one to select it.",
        height=HEIGHT,
    )
    panel.children.append(html.Div(id=f"{VIEW}-summary", className="summary"))
    panel.children.append(dcc.Store(id=f"{VIEW}-shown"))  # dataset|subset the full figure shows
    return panel


def frame(datasets: Datasets, sel: Selection, subset: str | None = None) -> pd.DataFrame:
    genes = datasets.genes(sel.dataset)
    part = genes.loc[datasets.subset_mask(sel.dataset, subset).to_numpy(bool)]
    column = gene_subsets.all_track_column(genes)
    out = part[["gene_id", "gene_name", "r", "significant"]].copy()
    out["r_all_tracks"] = part[column].to_numpy(float) if column else np.nan
    out.index = pd.Index(out["gene_id"].to_numpy(object))  # the highlight finds its row by a lookup
    return out


def track_label(datasets: Datasets, dataset: str) -> str:
    """The single track's name: CAGE brain for track 4980 (the paper's), else its index."""
    model = datasets.manifest(dataset).get("model") or {}
    track = model.get("track", model.get("track_index"))  # computed stores: track; published: track_index
    return "CAGE brain, adult" if track in (None, 4980) else f"track {track}"


def figure(
    data: pd.DataFrame, selected: str | None, revision: str = "", track: str = "CAGE brain, adult"
) -> dict:
    sig = data["significant"].astype("boolean").fillna(False).to_numpy(bool)
    hover = "<b>%{customdata[1]}</b> (%{customdata[0]})<br>r track = %{x:.3f}<br>r all tracks = %{y:.3f}"
    traces = []
    for name, mask, colour, size in [
        ("not significant", ~sig, theme.NOT_SIGNIFICANT, 5),
        ("significant (single track)", sig, theme.POSITIVE, 7),
    ]:
        part = data.loc[mask]
        traces.append(
            {
                "type": "scattergl", "x": part["r"].to_numpy(float),
                "y": part["r_all_tracks"].to_numpy(float), "mode": "markers",
                "name": f"{name} ({len(part):,})",
                "marker": {"color": colour, "size": size, "opacity": 0.75, "line": {"width": 0}},
                "customdata": part[["gene_id", "gene_name"]].to_numpy(),
                "hovertemplate": hover + "<extra></extra>",
            }
        )  # fmt: skip
    traces.append(highlight_trace(data, selected))
    return {
        "data": traces,
        "layout": theme.layout(
            height=HEIGHT, revision=revision, shapes=[theme.diagonal()],
            xaxis=theme.axis(f"r, single track ({track})", range=[-1, 1]),
            yaxis=theme.axis("r, all tracks (elastic net)", range=[-1, 1]),
        ),
    }  # fmt: skip


def highlight_trace(data: pd.DataFrame, selected: str | None) -> dict:
    row = data.iloc[[data.index.get_loc(selected)]] if selected and selected in data.index else data.iloc[0:0]
    return {
        "type": "scattergl", "x": row["r"].to_numpy(float), "y": row["r_all_tracks"].to_numpy(float),
        "mode": "markers+text", "text": row["gene_name"].to_numpy(object), "textposition": "top center",
        "showlegend": False, "name": "selected",
        "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": theme.SELECTED, "width": 2.5}},
        "customdata": row[["gene_id", "gene_name"]].to_numpy(),
        "hovertemplate": "<b>%{text}</b><extra></extra>",
    }  # fmt: skip


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def summary_rows(datasets: Datasets, dataset: str, subset: str) -> list[tuple[str, str]]:
    """(label, value) pairs of the summary beside the scatter."""
    genes = datasets.genes(dataset)
    s = gene_subsets.subset_summary(genes, subset, datasets.test_set())
    rows = [
        ("genes", f"{s.n_genes:,}"),
        ("significant at FDR 5%", f"{s.n_significant:,} ({s.n_significant_negative:,} with r < 0)"),
        ("median r", _fmt(s.median_r)),
    ]
    if s.tracks is not None:
        rows.append(("r across genes, track vs all tracks", f"{_fmt(s.tracks.r)} (n = {s.tracks.n_genes:,})"))
    population = datasets.population(dataset)
    for key, label in (("all", "all genes"), ("test_set", "Enformer test-set genes")):
        if key not in gene_subsets.available_subsets(population, datasets.test_set()):
            continue
        pop = gene_subsets.population_r(population, key, datasets.test_set())
        if pop is not None:
            rows.append((f"population-average r, {label}", f"{_fmt(pop.r)} (n = {pop.n_genes:,})"))
    return rows


def render(
    datasets: Datasets, sel: Selection, subset: str | None = None, shown: str | None = None
) -> tuple:
    """(figure, note, summary, shown): the full figure for a new dataset or subset; for another
    gene of the same, a Patch that only moves the highlight (the cloud stays in the browser), or
    nothing new at all where the dataset has no all-track r (the message stays)."""
    subset = gene_filter.chosen(datasets, sel.dataset, subset)
    key = f"{sel.dataset}|{subset}@{datasets.version_tag(sel.dataset)}"
    # the plotted genes, read once per dataset state and subset (every switch needs them)
    data = datasets.cached(
        sel.dataset, (VIEW, "frame", subset), lambda: frame(datasets, sel, subset), disk=False
    )
    has_all_tracks = bool(np.isfinite(data["r_all_tracks"].to_numpy(float)).any())
    if shown == key:
        if not has_all_tracks:
            return no_update, no_update, no_update, key
        patch = Patch()
        patch["data"][HIGHLIGHT_TRACE] = highlight_trace(data, sel.gene_id)
        return patch, no_update, no_update, key
    rows = datasets.cached(sel.dataset, (VIEW, "summary", subset),
                           lambda: summary_rows(datasets, sel.dataset, subset), disk=False)  # fmt: skip
    summary = html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))])
    if not has_all_tracks:
        message = "This dataset has no all-track r (precompute with --all-tracks WEIGHTS.csv)."
        return theme.message_figure(message, height=HEIGHT), message, summary, key
    where = "all genes" if subset == "all" else gene_filter.LABELS[subset]
    note = f"{len(data):,} genes ({where}); dotted line: equal r."
    track = track_label(datasets, sel.dataset)
    return figure(data, sel.gene_id, key, track), note, summary, key


# The outputs `answer` gives, drawn with the other panels over the subset's genes by one callback
# (components/export.py register_gene_set_panels).
OUTPUTS = [(f"{VIEW}-graph", "figure"), (f"{VIEW}-note", "children"), (f"{VIEW}-summary", "children"),
           (f"{VIEW}-shown", "data")]  # fmt: skip


def answer(datasets: Datasets, selection, subset, version, shown) -> tuple:
    sel = Selection.from_dict(selection, datasets)
    if sel is None:
        return theme.message_figure("Loading…", height=HEIGHT), "", None, None
    datasets.seen(sel.dataset, version)
    *views, key = render(datasets, sel, subset, shown if isinstance(shown, str) else None)
    return *views, key if key != shown else no_update


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame, filtered=True)
