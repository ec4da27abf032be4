"""ISM logo: in-silico mutagenesis around the selected SNV as a sequence logo, with its motifs.

Each reference base is drawn with height = minus the mean effect of its three
substitutions (`compute.store.ism_logo.ism_logo_matrix`): tall letters are bases the
model relies on, letters below zero are bases whose change would raise the
prediction. Bars above the logo are the JASPAR motifs the SNV breaks, creates
or changes (`python -m compute motifs`). The data come from the store's
optional `ism_logo.parquet` (`python -m compute ism-logo STORE`: drivers, and the
first-shown SNV of genes without drivers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Dash, html

from components import theme
from components.data import Datasets
from components.export import SelectionPanel, register_exports
from components.motif_logo import motif_logo_figure
from components.selection import Selection
from compute.store.ism_logo import ism_logo_matrix

VIEW = "ism_logo"
HEIGHT = 400
MAX_MOTIFS = 4
TOKENS = {"A": 0, "C": 1, "G": 2, "T": 3}


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "ISM around the selected SNV, with motifs",
        description="Letter height: how much the prediction drops when that reference base is changed "
        "(mean of its three substitutions). Bars: motifs the SNV breaks (red), creates (blue) or changes.",
        height=HEIGHT,
    )


def logo_matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """Letter heights (index = offset from the SNV, columns A, C, G, T) from one SNV's logo rows."""
    reference = rows["ref"].map(TOKENS).fillna(4).to_numpy(np.int64)
    return ism_logo_matrix(rows[list("ACGT")].to_numpy(float), reference, positions=rows["offset"].to_numpy())


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    """The SNV's ISM per base and the letter heights drawn (empty when there is nothing to draw)."""
    columns = ["offset", "ref", "A", "C", "G", "T", "height"]
    if sel.gene_id is None or sel.snv is None:
        return pd.DataFrame(columns=columns)
    rows = datasets.logo_rows(sel.dataset, sel.gene_id, sel.snv)
    if rows is None or rows.empty:
        return pd.DataFrame(columns=columns)
    heights = logo_matrix(rows)
    out = rows[["offset", "ref", "A", "C", "G", "T"]].copy()
    out["height"] = heights.sum(axis=1).to_numpy()
    return out


def render(datasets: Datasets, sel: Selection) -> tuple[dict, str]:
    if sel.gene_id is None or sel.snv is None:
        return theme.message_figure("Pick a gene and a SNV to see the ISM around it.", height=HEIGHT), ""
    rows = datasets.logo_rows(sel.dataset, sel.gene_id, sel.snv)
    if rows is None:
        manifest = datasets.manifest(sel.dataset)
        if manifest.get("kind") == "published":
            message = "The published results carry no sequence, so no ISM around SNVs."
        else:
            message = "No ISM around SNVs in this dataset: run python -m compute ism-logo STORE."
        return theme.message_figure(message, height=HEIGHT), message
    if rows.empty:
        message = (
            "No ISM around this SNV: computed for drivers (python -m compute ism-logo --snvs all: every SNV)."
        )
        return theme.message_figure(message, height=HEIGHT), message
    motifs = datasets.motif_rows(sel.dataset, sel.snv)
    figure = motif_logo_figure(logo_matrix(rows), motifs, snv_position=0, max_motifs=MAX_MOTIFS)
    figure["layout"]["height"] = HEIGHT
    flank = int(rows["offset"].abs().max())
    if motifs is None:
        note = f"{sel.snv}, ±{flank} bp. No motif scan in this dataset (python -m compute motifs STORE)."
    else:
        shown = min(len(motifs), MAX_MOTIFS)
        note = f"{sel.snv}, ±{flank} bp. motifs changed at this SNV: {len(motifs)}; {shown} shown."
    return figure, note


PANEL = SelectionPanel(VIEW, render, loading_height=HEIGHT)  # drawn with its group (components/__init__.py)


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame)
