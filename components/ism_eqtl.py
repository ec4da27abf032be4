"""ISM vs eQTL slope per SNV: does the model's effect of an allele agree with the cohort's?

Drivers are coloured supported (same sign) or unsupported (opposite sign);
marker size is the minor allele frequency. Where the dataset has genotypes, the
colours are LD (r²) with the selected SNV instead and drivers are ringed in their
support colour. Click a SNV to select it (and make it the LD reference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Dash, html

from components import theme
from components.data import Datasets
from components.export import SelectionPanel, register_exports
from components.selection import Selection
from components.snv_common import Points, SnvTable, gene_frame, gene_snvs, ld_note, selected_trace, snv_traces

VIEW = "ism_eqtl"
QUADRANTS = [
    (0.99, 0.99, "right", "top", "ALT raises both: supported"),
    (0.01, 0.01, "left", "bottom", "ALT lowers both: supported"),
    (0.01, 0.99, "left", "top", "model ↓, cohort ↑: unsupported"),
    (0.99, 0.01, "right", "bottom", "model ↑, cohort ↓: unsupported"),
]


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "Model effect vs cohort effect, per SNV",
        description="ISM (model) against eQTL slope (cohort). Size = minor allele frequency. Click a SNV.",
    )


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    return gene_frame(datasets, sel)


def figure(table: SnvTable, snv: str | None, revision: str = "", model: str = "Enformer") -> dict:
    points = Points(table, "ism", "eqtl_slope")
    traces = [*snv_traces(points), selected_trace(points, snv)]
    quadrants = [
        theme.note(text, x, y, xanchor, yanchor, font={"size": 11, "color": "#777"})
        for x, y, xanchor, yanchor, text in QUADRANTS
    ]
    return {
        "data": traces,
        "layout": theme.layout(
            revision=revision, annotations=quadrants,
            shapes=[theme.hline(0, "#999"), theme.vline(0, "#999")],
            xaxis=theme.axis(f"ISM: {model} score, ALT − REF (a.u.)", range=symmetric(points.x)),
            yaxis=theme.axis("eQTL slope (expression per ALT allele)", range=symmetric(points.y)),
        ),
    }  # fmt: skip


def symmetric(values: np.ndarray) -> list[float]:
    """An axis range centred on 0, so the four quadrants read as equal."""
    top = float(np.nanmax(np.abs(values))) if len(values) else 0.0
    top = top * 1.12 if np.isfinite(top) and top > 0 else 1.0
    return [-top, top]


def render(datasets: Datasets, sel: Selection) -> tuple[dict, str]:
    if sel.gene_id is None:
        return theme.message_figure("Pick a gene to see its SNVs."), ""
    table = gene_snvs(datasets, sel)
    if not len(table):
        if not datasets.manifest(sel.dataset).get("has_all_variants", True):
            return theme.message_figure("No driver SNVs in this gene (this dataset lists drivers only)."), ""
        return theme.message_figure("No SNVs in this gene's window."), ""
    note = ""
    if not datasets.manifest(sel.dataset).get("has_all_variants", True):
        note = "This dataset lists driver SNVs only."
    elif table.has_ld:
        note = ld_note(sel.snv, datasets.ld_people(sel.dataset, sel.gene_id))
    return figure(table, sel.snv, sel.gene_id, datasets.model_name(sel.dataset)), note


PANEL = SelectionPanel(VIEW, render)  # drawn with its group (components/__init__.py)


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame)
