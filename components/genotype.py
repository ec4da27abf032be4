"""Observed expression by genotype (0/1/2 ALT alleles) of the selected SNV, as violins.

Needs per-person dosages, which only a store with the optional genotypes
table has (gene_id, variant_id, person_id, dosage); otherwise it says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Dash, html

from components import theme
from components.data import OBSERVED_RAW, Datasets
from components.export import SelectionPanel, register_exports
from components.selection import Selection

VIEW = "genotype"
LABELS = {0: "0 (REF/REF)", 1: "1 (REF/ALT)", 2: "2 (ALT/ALT)"}
NO_GENOTYPES = "Per-person genotypes are not in this dataset, so expression by genotype cannot be shown."


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "Observed expression by genotype",
        description="People grouped by how many ALT alleles of the selected SNV they carry.",
    )


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    empty = pd.DataFrame(columns=["person_id", "dosage", "observed", "predicted"])
    if sel.gene_id is None or sel.snv is None or not datasets.has_people(sel.dataset):
        return empty
    dosage = datasets.people_dosage(sel.dataset, sel.gene_id, sel.snv)
    if dosage is None:
        return empty
    people = datasets.gene(sel.dataset, sel.gene_id).people
    # people without genotypes, or without observed expression for this gene (NA), are left out
    known = (dosage >= 0) & np.isfinite(people["observed"].to_numpy(float))
    return pd.DataFrame(
        {
            "person_id": people["person_id"].array[known],
            "dosage": pd.array(dosage[known], dtype="Int8"),
            "observed": people["observed"].to_numpy(float)[known],
            "predicted": people["predicted"].to_numpy(float)[known],
        }
    )


def figure(
    data: pd.DataFrame, snv: str, revision: str = "", observed_label: str = OBSERVED_RAW,
) -> dict:
    dosage = data["dosage"].to_numpy(float, na_value=np.nan)
    observed, people = data["observed"].to_numpy(float), data["person_id"].to_numpy(object)
    traces = []
    for g in (0, 1, 2):
        mask = dosage == g
        n = int(mask.sum())
        if n == 0:
            continue
        traces.append(
            {
                "type": "violin", "x": [f"{LABELS[g]}<br>n = {n}"] * n,
                "y": observed[mask], "name": LABELS[g], "showlegend": False,
                "line": {"color": theme.DOSAGE[g]}, "fillcolor": theme.DOSAGE[g], "opacity": 0.6,
                "box": {"visible": True}, "meanline": {"visible": True}, "points": "all", "pointpos": 0,
                "jitter": 0.4, "marker": {"size": 3, "color": "#333", "opacity": 0.5},
                "text": people[mask], "hovertemplate": "%{text}: observed %{y:.3f}<extra></extra>",
            }
        )  # fmt: skip
    return {
        "data": traces,
        "layout": theme.layout(
            legend=False, revision=revision,
            xaxis=theme.axis(f"genotype of {snv} (ALT alleles)"),
            yaxis=theme.axis(observed_label),
        ),
    }  # fmt: skip


def render(datasets: Datasets, sel: Selection) -> tuple[dict, str]:
    if sel.gene_id is None:
        return theme.message_figure("Pick a gene and a SNV."), ""
    if not datasets.has_people(sel.dataset):
        return theme.message_figure("This dataset has no per-person predictions."), ""
    if not datasets.has_genotypes(sel.dataset):
        return theme.message_figure("No per-person genotypes in this dataset."), NO_GENOTYPES
    if sel.snv is None:
        return theme.message_figure("Pick a SNV."), ""
    data = frame(datasets, sel)
    if data.empty:
        return theme.message_figure(f"No genotypes stored for {sel.snv}."), ""
    return figure(data, sel.snv, sel.gene_id, datasets.observed_label(sel.dataset)), ""


PANEL = SelectionPanel(VIEW, render)  # drawn with its group (components/__init__.py)


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame)
