"""Where drivers sit: histograms of driver distance to the TSS, all genes and the selected one.

Two panels: +/-70 kb in 1 kb bins and a +/-1 kb zoom in 50 bp bins. Bars count
the drivers of all genes; triangles mark the selected gene's drivers.
Distance = SNV position - TSS, not flipped by strand (as in the paper).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, html
from plotly.subplots import make_subplots

from components import theme
from components.data import Datasets, Selection
from components.export import register_exports

VIEW = "tss_hist"
PANELS = [("±70 kb", 70_000, 1_000), ("±1 kb", 1_000, 50)]  # (label, half range bp, bin bp)


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "Drivers by distance to the TSS",
        description="Bars: drivers of all genes. Triangles: drivers of the selected gene.",
        height=340,
    )


def bin_counts(distance: np.ndarray, half: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(-half, half + width, width)
    counts, _ = np.histogram(distance, bins=edges)
    return edges, counts


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    everyone = datasets.drivers(sel.dataset)["tss_distance"].to_numpy(float)
    mine = np.array([])
    if sel.gene_id is not None:
        variants = datasets.gene(sel.dataset, sel.gene_id).variants
        if not variants.empty:
            mine = variants.loc[variants.is_driver.astype(bool), "tss_distance"].to_numpy(float)
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


def figure(data: pd.DataFrame, drivers: pd.DataFrame, gene_name: str | None) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.08)
    for col, (label, half, width) in enumerate(PANELS, start=1):
        part = data.loc[data["panel"] == label]
        centres = (
            (part["bin_start_bp"] + width / 2) / 1000 if half > 1_000 else part["bin_start_bp"] + width / 2
        )
        fig.add_trace(
            go.Bar(
                x=centres,
                y=part["drivers_all_genes"],
                width=(width / 1000 if half > 1_000 else width) * 0.95,
                marker={"color": "#7f8fa6"},
                name="drivers, all genes",
                showlegend=col == 1,
                customdata=part[["bin_start_bp", "bin_end_bp"]].to_numpy(),
                hovertemplate="%{customdata[0]:+,} to %{customdata[1]:+,} bp: %{y} drivers<extra></extra>",
            ),
            row=1,
            col=col,
        )
        top = max(1, int(part["drivers_all_genes"].max() if len(part) else 1))
        inside = drivers.loc[drivers["tss_distance"].abs() <= half]
        for name, mask, colour in [
            ("supported", inside["supported"].astype(bool), theme.SUPPORTED),
            ("unsupported", ~inside["supported"].astype(bool), theme.UNSUPPORTED),
        ]:
            sub = inside.loc[mask]
            x = sub["tss_distance"] / 1000 if half > 1_000 else sub["tss_distance"]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=np.full(len(sub), top * 1.08),
                    mode="markers",
                    name=f"{gene_name or 'selected gene'}: {name} driver",
                    showlegend=col == 1 and len(sub) > 0,
                    marker={
                        "symbol": "triangle-down",
                        "size": 13,
                        "color": colour,
                        "line": {"color": "#222", "width": 1},
                    },
                    customdata=sub[["variant_id", "tss_distance"]].to_numpy(),
                    hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]:+,} bp from TSS<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(range=[0, top * 1.18], row=1, col=col)
    theme.style(fig, height=340)
    fig.update_layout(bargap=0)
    fig.update_xaxes(title_text="SNV position − TSS (kb), 1 kb bins", row=1, col=1)
    fig.update_xaxes(title_text="zoom: SNV position − TSS (bp), 50 bp bins", row=1, col=2)
    fig.update_yaxes(title_text="driver SNVs (count)", row=1, col=1)
    return fig


def render(datasets: Datasets, sel: Selection) -> tuple[go.Figure, str]:
    everyone = datasets.drivers(sel.dataset)
    if everyone.empty:
        return theme.message_figure("This dataset has no driver SNVs.", height=340), ""
    data = frame(datasets, sel)
    drivers = pd.DataFrame(columns=["variant_id", "tss_distance", "supported"])
    gene_name = None
    if sel.gene_id is not None:
        gene = datasets.gene(sel.dataset, sel.gene_id)
        gene_name = str(gene.gene["gene_name"])
        if not gene.variants.empty:
            drivers = gene.variants.loc[gene.variants.is_driver.astype(bool)]
    beyond = int((everyone["tss_distance"].abs() > PANELS[0][1]).sum())
    note = f"{len(everyone):,} drivers in all genes; {beyond:,} lie beyond ±70 kb and are not shown."
    return figure(data, drivers, gene_name), note


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(
        Output(f"{VIEW}-graph", "figure"), Output(f"{VIEW}-note", "children"), Input("app-selection", "data")
    )
    def update(selection):
        sel = Selection.from_dict(selection)
        if sel is None:
            return theme.message_figure("Loading…", height=340), ""
        return render(datasets, sel)

    register_exports(app, datasets, VIEW, frame)
