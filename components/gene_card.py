"""Gene card: the selected gene's statistics and its driver SNVs (click one to select it)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, html

from components.data import Datasets
from components.selection import Selection
from components.snv_common import LD_PREFIX, STRONG_LD, GeneSnvs, chrom_label, gene_snv_arrays
from compute.store.subsets import ALL_TRACK_R

VIEW = "card"


def layout() -> html.Section:
    return html.Section(className="panel card", id=f"{VIEW}-panel", children=[html.Div(id=f"{VIEW}-content")])


def _number(value, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(v):
        return "–"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.{digits}f}"


def rows(gene: pd.Series) -> list[tuple[str, str]]:
    """(label, value) pairs shown on the card, in order."""
    significant = "yes" if bool(gene["significant"]) else "no"
    all_tracks = next((c for c in ALL_TRACK_R if c in gene.index), None)
    extra = [("r, all tracks (elastic net)", _number(gene[all_tracks]))] if all_tracks else []
    return [
        ("r (predicted vs observed)", _number(gene["r"])),
        *extra,
        ("p of r", _number(gene["p_r"])),
        ("p (null model)", _number(gene["p_null"])),
        ("q (BH)", _number(gene["q_bh"])),
        ("significant at FDR 5%", significant),
        ("linear approximation r", _number(gene["linear_r"])),
        ("PrediXcan r", _number(gene["predixcan_r"])),
        ("drivers", str(int(gene["n_drivers"])) if pd.notna(gene["n_drivers"]) else "–"),
        ("people", f"{int(gene['n_people']):,}" if pd.notna(gene["n_people"]) else "–"),
        ("SNVs in window", f"{int(gene['n_snvs']):,}" if pd.notna(gene["n_snvs"]) else "–"),
    ]


def driver_list(snvs: GeneSnvs, snv: str | None) -> html.Div:
    if not snvs.driver.any():
        return html.P("No driver SNVs.", className="card-muted")
    which = np.flatnonzero(snvs.driver)
    ids, state, main = snvs.ids[which], snvs.state[which], snvs.main[which]
    distance, ism, slope = (snvs.numbers[c][which] for c in ("tss_distance", "ism", "eqtl_slope"))
    items = []
    for i in np.argsort(-snvs.gain[which], kind="stable"):  # largest gain first
        kind = {"unknown": "no eQTL"}.get(state[i], state[i])
        label = [
            html.Span(ids[i], className="snv-id"),
            html.Span(f" {int(distance[i]):+,} bp, ISM {ism[i]:+.3f}, eQTL {slope[i]:+.3f}"),
            html.Span(f" {kind}" + (", main" if main[i] else ""), className=f"tag {state[i]}"),
        ]
        classes = "snv-button selected" if ids[i] == snv else "snv-button"
        items.append(html.Li(html.Button(label, id={"type": "card-snv", "index": ids[i]}, className=classes)))
    return html.Ul(items, className="driver-list", id="card-drivers")


LD_SHOWN = 12


def ld_partners(datasets: Datasets, sel: Selection) -> list:
    """SNVs in strong LD (r² >= 0.8) with the selected SNV, from the dataset's own people."""
    if sel.snv is None:
        return []
    ld = datasets.ld(sel.dataset, sel.gene_id, sel.snv)
    if ld is None:
        return []
    n = datasets.ld_people(sel.dataset, sel.gene_id)
    ids, r2 = ld.index.to_numpy(object), ld.to_numpy(float)
    keep = np.flatnonzero((r2 >= STRONG_LD) & (ids != sel.snv))
    keep = keep[np.argsort(-r2[keep], kind="stable")]  # strongest first
    strong = list(zip(ids[keep].tolist(), r2[keep].tolist(), strict=True))
    title = html.H3(f"In strong LD with {sel.snv}")
    note = html.P(f"r² ≥ {STRONG_LD:g} among this dataset's {n:,} people", className="card-muted")
    if not strong:
        return [
            title,
            html.P(
                f"None: no SNV of the window has r² ≥ {STRONG_LD:g}.",
                className="card-muted",
                id="card-ld-none",
            ),
        ]
    items = [
        html.Li(
            html.Button(
                [html.Span(v, className="snv-id"), html.Span(f" r² {value:.2f}")],
                id={"type": "card-snv", "index": f"{LD_PREFIX}{v}"}, className="snv-button",
            )
        )
        for v, value in strong[:LD_SHOWN]
    ]  # fmt: skip
    more = (
        [html.P(f"and {len(strong) - LD_SHOWN:,} more", className="card-muted")]
        if len(strong) > LD_SHOWN
        else []
    )
    return [title, note, html.Ul(items, className="driver-list", id="card-ld-list"), *more]


def model_note(datasets: Datasets, dataset: str) -> list:
    """The dataset's model note (a demo model is not a trained Enformer), or nothing."""
    note = datasets.model_note(dataset)
    return [html.P(note, className="model-note", id="card-model-note", role="note")] if note else []


def render(datasets: Datasets, sel: Selection) -> list:
    if sel.gene_id is None:
        return [
            *model_note(datasets, sel.dataset),
            html.H2("No gene selected"),
            html.P("Search a gene by name or Ensembl ID above, or click a point in the volcano."),
        ]
    data = datasets.gene(sel.dataset, sel.gene_id)
    gene = data.gene
    r = float(gene["r"])
    heldout = datasets.heldout_r(sel.dataset, sel.gene_id)
    headline = [f"r = {r:+.3f}" if math.isfinite(r) else "r not available"]
    reason = gene.get("reason")
    why = []
    if isinstance(reason, str):  # a gene without SNVs (or without variation) is a result too
        why = [html.P(f"No r: {reason}.", className="card-muted", id="card-no-r")]
    all_people = []
    if heldout is not None:  # a model fine-tuned on some of these people: report the test fit
        r, n = heldout
        headline = [
            f"r = {r:+.3f}" if math.isfinite(r) else "r not available",
            html.Small(f" held-out people (n = {n:,})", className="card-muted"),
        ]
        text = f"all people, including the model's training people: r = {float(gene['r']):+.3f}"
        all_people = [html.P(text, className="card-muted", id="card-r-all")]
    sign = "positive" if r > 0 else "negative" if r < 0 else "none"
    return [
        *model_note(datasets, sel.dataset),
        html.H2(
            [
                html.Span(str(gene["gene_name"]), id="card-gene-name"),
                html.Small(f" {gene['gene_id']}", className="card-muted"),
            ]
        ),
        html.P(
            f"{chrom_label(gene['chrom'])}:{int(gene['tss']):,} ({gene['strand']}), dataset {sel.dataset}",
            className="card-muted",
        ),
        html.Div(headline, className=f"card-r {sign}", id="card-r"),
        *why,
        *all_people,
        html.Dl([part for label, value in rows(gene) for part in (html.Dt(label), html.Dd(value))]),
        html.H3("Driver SNVs"),
        driver_list(gene_snv_arrays(datasets, sel.dataset, sel.gene_id), sel.snv),
        html.P(f"Selected SNV: {sel.snv}" if sel.snv else "", className="card-muted", id="card-snv"),
        *ld_partners(datasets, sel),
    ]


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(Output(f"{VIEW}-content", "children"), Input("app-selection", "data"))
    def update(selection):
        sel = Selection.from_dict(selection, datasets)
        if sel is None:
            return html.P("Loading…")
        if sel.gene_id is None:
            return render(datasets, sel)
        key = ("view", VIEW, sel.gene_id, sel.snv)  # rendered once, shared by tabs and workers
        return datasets.cached(sel.dataset, key, lambda: render(datasets, sel))
