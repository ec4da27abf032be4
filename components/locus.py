"""Locus track: ISM of every SNV along the gene's window, with the TSS and the drivers."""

from __future__ import annotations

import pandas as pd
from dash import Dash, html

from components import theme
from components.data import Datasets
from components.export import SelectionPanel, register_exports
from components.selection import Selection
from components.snv_common import (
    Points,
    SnvTable,
    chrom_label,
    gene_frame,
    gene_snvs,
    ld_note,
    selected_trace,
    snv_traces,
)

VIEW = "locus"
WINDOW_HALF_KB = 98.304


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "Locus: in-silico mutagenesis along the window",
        description="ISM of each SNV by its distance to the TSS. Drivers in colour (ringed when the "
        "colours show LD with the selected SNV). Click a SNV.",
        height=320,
    )


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    return gene_frame(datasets, sel)


def figure(table: SnvTable, snv: str | None, gene: pd.Series) -> dict:
    points = Points(table, "tss_distance", "ism", scale_x=1e-3)
    traces = [*snv_traces(points), selected_trace(points, snv)]
    tss_label = {
        "text": f"TSS ({gene['strand']} strand)", "x": 0, "xref": "x", "y": 1, "yref": "y domain",
        "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"color": theme.TSS, "size": 12},
    }  # fmt: skip
    return {
        "data": traces,
        "layout": theme.layout(
            height=320, revision=str(gene["gene_id"]), annotations=[tss_label],
            shapes=[theme.vline(0, theme.TSS, dash="dot", width=1.5), theme.hline(0, "#bbb")],
            xaxis=theme.axis(
                f"SNV position − TSS (kb); TSS at {chrom_label(gene['chrom'])}:{int(gene['tss']):,}",
                range=[-WINDOW_HALF_KB, WINDOW_HALF_KB],
            ),
            yaxis=theme.axis("ISM, ALT − REF (a.u.)"),
        ),
    }  # fmt: skip


def render(datasets: Datasets, sel: Selection) -> tuple[dict, str]:
    if sel.gene_id is None:
        return theme.message_figure("Pick a gene to see its locus.", height=320), ""
    table = gene_snvs(datasets, sel)
    if not len(table):
        if not datasets.manifest(sel.dataset).get("has_all_variants", True):
            return theme.message_figure(
                "No driver SNVs in this gene (this dataset lists drivers only).", height=320
            ), ""
        return theme.message_figure("No SNVs in this gene's window.", height=320), ""
    gene = datasets.gene(sel.dataset, sel.gene_id).gene
    note = ld_note(sel.snv, datasets.ld_people(sel.dataset, sel.gene_id)) if table.has_ld else ""
    return figure(table, sel.snv, gene), note


PANEL = SelectionPanel(VIEW, render, loading_height=320)  # drawn with its group (components/__init__.py)


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame)
