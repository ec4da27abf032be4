"""Locus track: ISM of every SNV along the gene's window, with the TSS and the drivers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, html

from components import theme
from components.data import Datasets, Selection
from components.export import register_exports
from components.snv_common import selected_trace, snv_frame, snv_traces

VIEW = "locus"
WINDOW_HALF_KB = 98.304


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "Locus: in-silico mutagenesis along the window",
        description="ISM of each SNV by its distance to the TSS. Drivers in colour. Click a SNV.",
        height=320,
    )


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    if sel.gene_id is None:
        return snv_frame(pd.DataFrame())
    return snv_frame(datasets.gene(sel.dataset, sel.gene_id).variants)


def figure(data: pd.DataFrame, snv: str | None, gene: pd.Series) -> go.Figure:
    fig = go.Figure(snv_traces(data, "tss_distance", "ism", scale_x=1e-3))
    fig.add_trace(selected_trace(data, snv, "tss_distance", "ism", scale_x=1e-3))
    fig.add_vline(
        x=0,
        line={"color": theme.TSS, "width": 1.5, "dash": "dot"},
        annotation_text=f"TSS ({gene['strand']} strand)",
        annotation_position="top right",
        annotation_font_color=theme.TSS,
    )
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1})
    theme.style(fig, height=320)
    fig.update_xaxes(
        title_text=f"SNV position − TSS (kb); TSS at chr{gene['chrom']}:{int(gene['tss']):,}",
        range=[-WINDOW_HALF_KB, WINDOW_HALF_KB],
    )
    fig.update_yaxes(title_text="ISM, ALT − REF (a.u.)")
    return fig


def render(datasets: Datasets, sel: Selection) -> tuple[go.Figure, str]:
    if sel.gene_id is None:
        return theme.message_figure("Pick a gene to see its locus.", height=320), ""
    data = frame(datasets, sel)
    if data.empty:
        return theme.message_figure("No SNVs in this gene's window.", height=320), ""
    gene = datasets.gene(sel.dataset, sel.gene_id).gene
    return figure(data, sel.snv, gene), ""


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(
        Output(f"{VIEW}-graph", "figure"), Output(f"{VIEW}-note", "children"), Input("app-selection", "data")
    )
    def update(selection):
        sel = Selection.from_dict(selection)
        if sel is None:
            return theme.message_figure("Loading…", height=320), ""
        return render(datasets, sel)

    register_exports(app, datasets, VIEW, frame)
