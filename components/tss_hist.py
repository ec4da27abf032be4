"""Where drivers sit: histograms of driver distance to the TSS, all genes and the selected one.

Two panels: +/-70 kb in 1 kb bins and a +/-1 kb zoom in 50 bp bins. Bars count
the drivers of all genes (or of the filter bar's gene subset); triangles mark
the selected gene's drivers.
Distance = SNV position - TSS, not flipped by strand (as in the paper).

The bars are drawn once per dataset and subset; a gene switch sends a Patch that replaces
only the selected gene's triangles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from dash import Dash, Patch, dcc, html, no_update

from components import gene_filter, theme
from components.data import Datasets
from components.export import register_exports
from components.selection import Selection
from components.snv_common import GeneSnvs, flag, gene_snv_arrays

VIEW = "tss_hist"
PANELS = [("±70 kb", 70_000, 1_000), ("±1 kb", 1_000, 50)]  # (label, half range bp, bin bp)
SUPPORT = [("supported", theme.SUPPORTED), ("unsupported", theme.UNSUPPORTED), ("unknown", theme.UNKNOWN)]
HEIGHT = 340


def layout() -> html.Section:
    panel = theme.figure_panel(
        VIEW,
        "Drivers by distance to the TSS",
        description="Bars: drivers of all genes, 1 kb bins over ±70 kb (left) and 50 bp bins over ±1 kb "
        "(right). Triangles: drivers of the selected gene.",
        height=HEIGHT,
    )
    panel.children.append(dcc.Store(id=f"{VIEW}-shown"))  # dataset|subset@version the bars show
    return panel


def bin_counts(distance: np.ndarray, half: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(-half, half + width, width)
    counts, _ = np.histogram(distance, bins=edges)
    return edges, counts


def frame(datasets: Datasets, sel: Selection, subset: str | None = None) -> pd.DataFrame:
    everyone = datasets.subset_drivers(sel.dataset, subset)["tss_distance"].to_numpy(float)
    mine = np.array([])
    if sel.gene_id is not None:
        variants = datasets.gene(sel.dataset, sel.gene_id).variants
        if not variants.empty:
            mine = variants.loc[flag(variants.is_driver), "tss_distance"].to_numpy(float)
    rows = []
    for label, half, width in PANELS:
        edges, counts = bin_counts(everyone, half, width)
        _, selected = bin_counts(mine, half, width)
        rows.append(
            pd.DataFrame(
                {
                    "panel": label,
                    "bin_start_bp": edges[:-1],
                    "bin_end_bp": edges[1:],
                    "drivers_all_genes": counts,
                    "drivers_selected_gene": selected,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def figure(data: pd.DataFrame, drivers: GeneDrivers, gene_name: str | None, revision: str = "") -> dict:
    """Per panel: the all-genes bars, then one trace of the selected gene's triangles per support
    state (the traces `driver_traces` rebuilds for a Patch)."""
    traces, axes = [], {}
    domains = [[0.0, 0.56], [0.64, 1.0]]
    titles = ["SNV position − TSS (kb)", "zoom: SNV position − TSS (bp)"]
    for k, (label, half, width) in enumerate(PANELS):
        suffix = "" if k == 0 else str(k + 1)
        scale = 1e-3 if half > 1_000 else 1.0  # the wide panel in kb
        part = data.loc[data["panel"] == label]
        traces.append(
            {
                "type": "bar", "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                "x": (part["bin_start_bp"].to_numpy(float) + width / 2) * scale,
                "y": part["drivers_all_genes"].to_numpy(), "width": width * scale * 0.95,
                "marker": {"color": "#7f8fa6"}, "name": "drivers, all genes", "showlegend": k == 0,
                "customdata": part[["bin_start_bp", "bin_end_bp"]].to_numpy(),
                "hovertemplate": "%{customdata[0]:+,} to %{customdata[1]:+,} bp: %{y} drivers<extra></extra>",
            }
        )  # fmt: skip
        top = panel_top(part["drivers_all_genes"].to_numpy())
        traces += driver_traces(drivers, gene_name, k, top)
        axes[f"xaxis{suffix}"] = theme.axis(titles[k], domain=domains[k], anchor=f"y{suffix}",
                                            range=[-half * scale, half * scale])  # fmt: skip
        axes[f"yaxis{suffix}"] = theme.axis("driver SNVs (count)" if k == 0 else "", anchor=f"x{suffix}",
                                            range=[0, top * 1.18])  # fmt: skip
    return {"data": traces, "layout": theme.layout(height=HEIGHT, revision=revision, bargap=0, **axes)}


def panel_top(counts: np.ndarray) -> int:
    """The tallest bar of a panel (at least 1): the triangles sit just above it."""
    return max(1, int(counts.max()) if len(counts) else 1)


class GeneDrivers(NamedTuple):
    """The selected gene's drivers: ids, distance to the TSS (bp) and support state."""

    ids: np.ndarray
    distance: np.ndarray
    state: np.ndarray

    @classmethod
    def of(cls, snvs: GeneSnvs) -> GeneDrivers:
        return cls(snvs.ids[snvs.driver], snvs.numbers["tss_distance"][snvs.driver], snvs.state[snvs.driver])

    @classmethod
    def from_frame(cls, variants: pd.DataFrame) -> GeneDrivers:
        """The drivers among a gene's variants rows."""
        return cls.of(GeneSnvs(variants))


NO_DRIVERS = GeneDrivers(np.array([], dtype=object), np.array([]), np.array([], dtype=object))


def driver_traces(drivers: GeneDrivers, gene_name: str | None, k: int, top: int) -> list[dict]:
    """The selected gene's drivers in panel k, one trace per support state (numpy masks: this
    runs on every gene switch, on a handful of rows)."""
    _, half, _ = PANELS[k]
    suffix = "" if k == 0 else str(k + 1)
    scale = 1e-3 if half > 1_000 else 1.0
    ids, distance, state = drivers
    inside = np.abs(distance) <= half
    traces = []
    for name, colour in SUPPORT:
        mask = inside & (state == name)
        traces.append(
            {
                "type": "scatter", "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                "x": distance[mask] * scale, "y": np.full(int(mask.sum()), top * 1.08),
                "mode": "markers", "name": f"{gene_name or 'selected gene'}: {name} driver",
                "showlegend": k == 0 and bool(mask.any()),
                "marker": {"symbol": "triangle-down", "size": 13, "color": colour,
                           "line": {"color": "#222", "width": 1}},
                "text": ids[mask], "customdata": distance[mask],
                "hovertemplate": "<b>%{text}</b><br>%{customdata:+,} bp from TSS<extra></extra>",
            }
        )  # fmt: skip
    return traces


def selected_drivers(datasets: Datasets, sel: Selection) -> tuple[GeneDrivers, str | None]:
    """The selected gene's drivers and its name (none without a gene)."""
    if sel.gene_id is None:
        return NO_DRIVERS, None
    drivers = GeneDrivers.of(gene_snv_arrays(datasets, sel.dataset, sel.gene_id))
    return drivers, str(datasets.gene(sel.dataset, sel.gene_id).gene["gene_name"])


def render(datasets: Datasets, sel: Selection, subset: str | None = None) -> tuple[dict, str]:
    """The full figure and its note."""
    figure_, note, _ = update(datasets, sel, subset, None)
    return figure_, note


def shown_key(datasets: Datasets, dataset: str, subset: str) -> str:
    return f"{dataset}|{subset}@{datasets.version_tag(dataset)}"


def update(datasets: Datasets, sel: Selection, subset: str | None, shown: str | None) -> tuple:
    """(figure, note, shown): the full figure when the bars change (another dataset, subset or
    store state), else a Patch of the triangles alone and no new note."""
    subset = gene_filter.chosen(datasets, sel.dataset, subset)
    everyone = datasets.subset_drivers(sel.dataset, subset)
    if everyone.empty:
        where = "This dataset" if subset == "all" else "This gene subset"
        return theme.message_figure(f"{where} has no driver SNVs.", height=HEIGHT), "", None
    key = shown_key(datasets, sel.dataset, subset)
    drivers, gene_name = selected_drivers(datasets, sel)
    if shown == key:
        tops = datasets.cached(sel.dataset, ("tss-tops", subset), lambda: bar_tops(everyone), disk=False)
        patch = Patch()
        for k, top in enumerate(tops):
            for j, trace in enumerate(driver_traces(drivers, gene_name, k, top)):
                patch["data"][k * (1 + len(SUPPORT)) + 1 + j] = theme.typed_trace(trace)
        return patch, no_update, key
    data = frame(datasets, sel, subset)
    beyond = int((everyone["tss_distance"].abs() > PANELS[0][1]).sum())
    genes = "all genes" if subset == "all" else gene_filter.LABELS[subset]
    note = f"{len(everyone):,} drivers in {genes}; {beyond:,} lie beyond ±70 kb and are not shown."
    return figure(data, drivers, gene_name, key), note, key


def bar_tops(everyone: pd.DataFrame) -> list[int]:
    """The tallest bar of each panel, for drivers of all genes in the subset."""
    distance = everyone["tss_distance"].to_numpy(float)
    return [panel_top(bin_counts(distance, half, width)[1]) for _, half, width in PANELS]


# The outputs `answer` gives, drawn with the other panels over the subset's genes by one callback
# (components/export.py register_gene_set_panels).
OUTPUTS = [(f"{VIEW}-graph", "figure"), (f"{VIEW}-note", "children"), (f"{VIEW}-shown", "data")]


def answer(datasets: Datasets, selection, subset, version, shown) -> tuple:
    sel = Selection.from_dict(selection, datasets)
    if sel is None:
        return theme.message_figure("Loading…", height=HEIGHT), "", None
    datasets.seen(sel.dataset, version)
    figure_, note, key = update(datasets, sel, subset, shown if isinstance(shown, str) else None)
    figure_ = theme.typed_arrays(figure_) if isinstance(figure_, dict) else figure_
    return figure_, note, key if key != shown else no_update


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame, filtered=True)
