"""Volcano: r of every gene against -log10 of its null-model p-value, with the BH line.

The full figure (one WebGL point per gene) is built once per dataset; a gene
switch only moves the highlight ring, sent as a Patch of one small trace.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Dash, Patch, dcc, html, no_update

from components import gene_filter, theme
from components.data import Datasets
from components.export import register_exports
from components.selection import Selection

VIEW = "volcano"
HIGHLIGHT_TRACE = 3  # index of the selected-gene trace
COLUMNS = ["gene_id", "gene_name", "r", "p_null", "q_bh", "significant", "n_drivers"]


def layout() -> html.Section:
    panel = theme.figure_panel(
        VIEW,
        "All genes: model accuracy vs null model",
        description="Each point is a gene. Click one to select it.",
        height=420,
    )
    panel.children.append(dcc.Store(id=f"{VIEW}-shown"))  # dataset the full figure shows
    return panel


def frame(datasets: Datasets, sel: Selection, subset: str | None = None) -> pd.DataFrame:
    """The plotted genes: those of the filter bar's subset (all genes by default)."""
    genes = datasets.genes(sel.dataset)
    out = genes.loc[datasets.subset_mask(sel.dataset, subset).to_numpy(bool), COLUMNS].copy()
    out["neg_log10_p_null"] = neg_log10(out["p_null"].to_numpy(float))
    out.index = pd.Index(out["gene_id"].to_numpy(object))  # the highlight finds its row by a lookup
    return out


def neg_log10(p: np.ndarray) -> np.ndarray:
    """-log10 p with p = 0 (underflow) shown at the smallest positive double."""
    return -np.log10(np.clip(p, np.finfo(float).tiny, 1.0))


def bh_threshold(genes: pd.DataFrame) -> float | None:
    """Largest p_null among BH-significant genes: the line a gene must cross."""
    sig = genes.loc[genes["significant"].astype(bool), "p_null"]
    return float(sig.max()) if len(sig) else None


def figure(data: pd.DataFrame, selected: str | None, dataset: str = "") -> dict:
    sig = data["significant"].astype(bool)
    groups = [
        ("not significant", ~sig, theme.NOT_SIGNIFICANT, 5),
        ("significant, r > 0", sig & (data["r"] > 0), theme.POSITIVE, 7),
        ("significant, r < 0", sig & (data["r"] <= 0), theme.NEGATIVE, 7),
    ]
    hover = (
        "<b>%{customdata[1]}</b> (%{customdata[0]})<br>r = %{x:.3f}<br>p (null) = %{customdata[2]:.2e}"
        "<br>q (BH) = %{customdata[3]:.2e}<br>drivers: %{customdata[4]}<extra></extra>"
    )
    traces = []
    for name, mask, colour, size in groups:
        part = data.loc[mask]
        traces.append(
            {
                "type": "scattergl", "x": part["r"].to_numpy(), "y": part["neg_log10_p_null"].to_numpy(),
                "mode": "markers", "name": f"{name} ({len(part):,})",
                "marker": {"color": colour, "size": size, "opacity": 0.8, "line": {"width": 0}},
                "customdata": part[["gene_id", "gene_name", "p_null", "q_bh", "n_drivers"]].to_numpy(),
                "hovertemplate": hover,
            }
        )  # fmt: skip
    traces.append(highlight_trace(data, selected))
    shapes, annotations = [], []
    threshold = bh_threshold(data)
    if threshold is not None:
        y = float(neg_log10(np.array([threshold]))[0])
        shapes.append(theme.hline(y, "#555", dash="dash"))
        annotations.append(
            {"text": "BH FDR 5%", "x": 0, "xref": "x domain", "y": y, "yref": "y", "xanchor": "left",
             "yanchor": "bottom", "showarrow": False, "font": {"size": 11, "color": "#555"}}
        )  # fmt: skip
    return {
        "data": traces,
        "layout": theme.layout(
            height=420, revision=dataset, shapes=shapes, annotations=annotations,
            xaxis=theme.axis("r: Pearson r, predicted vs observed across people"),
            yaxis=theme.axis("−log10 p (null model of random SNV weights)"),
        ),
    }  # fmt: skip


def highlight_trace(data: pd.DataFrame, selected: str | None) -> dict:
    row = data.iloc[[data.index.get_loc(selected)]] if selected and selected in data.index else data.iloc[0:0]
    return {
        "type": "scattergl", "x": row["r"].to_numpy(), "y": row["neg_log10_p_null"].to_numpy(),
        "mode": "markers+text", "name": "selected", "text": row["gene_name"].to_numpy(),
        "textposition": "top center", "showlegend": False,
        "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": theme.SELECTED, "width": 2.5}},
        "customdata": row[["gene_id", "gene_name"]].to_numpy(),
        "hovertemplate": "<b>%{text}</b><extra></extra>",
    }  # fmt: skip


def shown_key(datasets: Datasets, dataset: str, subset: str | None) -> str:
    """What the full figure shows: the dataset, the gene subset when it is not all genes, and the
    store's state (a store being written gets a new figure as genes land)."""
    key = dataset if subset in (None, "all") else f"{dataset}|{subset}"
    return f"{key}@{datasets.version_tag(dataset)}"


def render(
    datasets: Datasets, sel: Selection, shown: str | None, subset: str | None = None
) -> tuple[dict | Patch, str]:
    """Full figure for a new dataset or subset, else a Patch that moves the highlight."""
    subset = gene_filter.chosen(datasets, sel.dataset, subset)
    key = shown_key(datasets, sel.dataset, subset)
    # the plotted genes, made once per dataset state and subset (every switch needs them)
    data = datasets.cached(
        sel.dataset, (VIEW, "frame", subset), lambda: frame(datasets, sel, subset), disk=False
    )
    if shown == key:
        patch = Patch()
        patch["data"][HIGHLIGHT_TRACE] = highlight_trace(data, sel.gene_id)
        return patch, key
    return figure(data, sel.gene_id, key), key


# The outputs `answer` gives, drawn with the other panels over the subset's genes by one callback
# (components/export.py register_gene_set_panels).
OUTPUTS = [(f"{VIEW}-graph", "figure"), (f"{VIEW}-shown", "data")]


def answer(datasets: Datasets, selection, subset, version, shown) -> tuple:
    """The panel's callback: a Patch of the highlight on a gene switch, the full figure for a new
    dataset, subset or store state."""
    sel = Selection.from_dict(selection, datasets)
    if sel is None:
        return theme.message_figure("Loading…", height=420), None
    datasets.seen(sel.dataset, version)
    figure, key = render(datasets, sel, shown, subset)
    return figure, key if key != shown else no_update


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame, filtered=True)
