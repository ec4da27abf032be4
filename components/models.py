"""Models side by side: two stores of the same cohort (e.g. Enformer and Borzoi, or AlphaGenome), gene
by gene.

The scatter has one point per gene in both stores: r of this dataset's model (x) against r of the
other store's (y, chosen in the dropdown), coloured by where each is significant; a click selects a
gene. Beside it: the counts, and the genes whose r differs in sign. Below, for the selected gene,
each store's driver SNVs with their ISM, eQTL slope and support (supported: ISM and eQTL slope agree
in sign), and the LD (r²) of each driver of this dataset with the closest driver of the other.
The same comparison is `python -m compute compare A B` (compute/store/comparison.py does the work).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, dcc, html, no_update

from components import theme
from components.data import Datasets
from components.export import register_exports
from components.selection import Selection
from compute.store.comparison import WHERE, drivers_side_by_side, gene_comparison, model_label

VIEW = "models"
HEIGHT = 400
COLOURS = dict(
    zip(WHERE, (theme.SELECTED, theme.POSITIVE, theme.NEGATIVE, theme.NOT_SIGNIFICANT), strict=True)
)
LISTED = 12  # genes of differing sign named beside the scatter


def layout() -> html.Section:
    panel = theme.figure_panel(
        VIEW,
        "Models side by side",
        description="Each point is a gene: r of this dataset's model (x) and of another store of the same "
        "cohort (y), coloured by where each is significant. Click one to select it.",
        height=HEIGHT,
    )
    panel.children.insert(1, dcc.Dropdown(id=f"{VIEW}-other", clearable=False, placeholder="another store"))
    panel.children.append(html.Div(id=f"{VIEW}-summary", className="summary"))
    panel.children.append(html.Div(id=f"{VIEW}-drivers", className="summary"))
    return panel


def others(datasets: Datasets, name: str) -> list[str]:
    """The other datasets that share genes with `name`, the one sharing most first: a store of the same
    cohort (all its genes) before another cohort's that happens to hold some of them."""
    shared = {n: shared_genes(datasets, name, n) for n in datasets.names if n != name}
    return sorted((n for n in shared if shared[n]), key=lambda n: -shared[n])


def shared_genes(datasets: Datasets, name: str, other: str) -> int:
    """How many genes two datasets share, counted once per state of both stores (every gene switch
    asks: a set of 6,825 gene IDs took ~15 ms)."""

    def count() -> int:
        return len(set(datasets.genes(name)["gene_id"]).intersection(datasets.genes(other)["gene_id"]))

    key = (VIEW, "shared", other, datasets.version_tag(other))
    return datasets.cached(name, key, count, disk=False)


def chosen_other(datasets: Datasets, name: str, other: str | None) -> str | None:
    options = others(datasets, name)
    return other if other in options else (options[0] if options else None)


def frame(datasets: Datasets, sel: Selection, other: str | None = None) -> pd.DataFrame:
    """Per gene in both stores: r and significance of each, where, whether the sign differs."""
    other = chosen_other(datasets, sel.dataset, other)
    if other is None:
        return pd.DataFrame(columns=["gene_id", "gene_name", "r_a", "r_b", "where", "sign_differs"])
    data = gene_comparison(datasets.genes(sel.dataset), datasets.genes(other))
    data.index = pd.Index(data["gene_id"].to_numpy(object))
    return data


def figure(data: pd.DataFrame, selected: str | None, labels: tuple[str, str], revision: str = "") -> dict:
    hover = "<b>%{customdata[1]}</b> (%{customdata[0]})<br>r A = %{x:.3f}<br>r B = %{y:.3f}"
    traces = []
    for where in WHERE:
        part = data.loc[data["where"] == where]
        traces.append(
            {
                "type": "scattergl", "x": part["r_a"].to_numpy(float), "y": part["r_b"].to_numpy(float),
                "mode": "markers", "name": f"significant in {where} ({len(part):,})",
                "marker": {"color": COLOURS[where], "size": 7 if where != "neither" else 5, "opacity": 0.8},
                "customdata": part[["gene_id", "gene_name"]].to_numpy(),
                "hovertemplate": hover + "<extra></extra>",
            }
        )  # fmt: skip
    row = data.loc[[selected]] if selected and selected in data.index else data.iloc[0:0]
    traces.append(
        {
            "type": "scattergl", "x": row["r_a"].to_numpy(float), "y": row["r_b"].to_numpy(float),
            "mode": "markers+text", "text": row["gene_name"].to_numpy(object), "textposition": "top center",
            "showlegend": False, "name": "selected", "customdata": row[["gene_id", "gene_name"]].to_numpy(),
            "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": theme.SELECTED, "width": 2.5}},
        }
    )  # fmt: skip
    return {
        "data": traces,
        "layout": theme.layout(
            height=HEIGHT, revision=revision, shapes=[theme.diagonal()],
            xaxis=theme.axis(f"r, A: {labels[0]}", range=[-1, 1]),
            yaxis=theme.axis(f"r, B: {labels[1]}", range=[-1, 1]),
        ),
    }  # fmt: skip


def summary(data: pd.DataFrame) -> html.Dl:
    counts = data["where"].value_counts()
    differs = data.loc[data["sign_differs"].astype(bool)]
    rows = [("genes in both", f"{len(data):,}")]
    rows += [(f"significant in {w}", f"{int(counts.get(w, 0)):,}") for w in WHERE]
    names = ", ".join(differs["gene_name"].astype(str).head(LISTED)) or "none"
    more = f" and {len(differs) - LISTED:,} more" if len(differs) > LISTED else ""
    rows.append((f"r of differing sign ({len(differs):,})", names + more))
    return html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))])


def _fmt(value, digits: int = 3) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{value:+.{digits}g}" if math.isfinite(value) else "–"


def drivers_block(datasets: Datasets, sel: Selection, other: str) -> html.Div | str:
    """The selected gene's drivers in each store, with support, and the LD between them."""
    if sel.gene_id is None or not datasets.has_gene(other, sel.gene_id):
        return "Select a gene computed in both stores to see each model's drivers."
    table, r2 = drivers_side_by_side(datasets.store(sel.dataset), datasets.store(other), sel.gene_id)
    if table.empty:
        return f"{sel.gene_id}: no driver SNV in either store."
    ids_b = table.loc[table["store"] == "B", "variant_id"].tolist()
    closest = {}
    for i, va in enumerate(table.loc[table["store"] == "A", "variant_id"]):
        if r2.shape[1] and np.isfinite(r2[i]).any():
            j = int(np.nanargmax(r2[i]))
            closest[va] = f"r² {r2[i, j]:.2f} with {ids_b[j]}"
    header = html.Tr(
        [html.Th(h) for h in ("store", "driver SNV", "ISM", "eQTL slope", "support", "LD with B")]
    )
    rows = []
    for row in table.itertuples():
        support = "supported" if bool(row.supported) else "unsupported"
        colour = theme.SUPPORTED if bool(row.supported) else theme.UNSUPPORTED
        cells = [row.store, row.variant_id, _fmt(row.ism), _fmt(row.eqtl_slope)]
        rows.append(
            html.Tr(
                [
                    *map(html.Td, cells),
                    html.Td(support, style={"color": colour}),
                    html.Td(closest.get(row.variant_id, "")),
                ]
            )  # fmt: skip
        )
    return html.Div([html.H3(f"Drivers of {sel.gene_id}, A and B"), html.Table([header, *rows])])


def render(datasets: Datasets, sel: Selection, other: str | None) -> tuple:
    """(figure, note, summary, drivers, dropdown options, the store compared with)."""
    options = [{"label": n, "value": n} for n in others(datasets, sel.dataset)]
    other = chosen_other(datasets, sel.dataset, other)
    if other is None:
        message = "Open another store of the same cohort (app.py --results A --results B) to compare models."
        return theme.message_figure(message, height=HEIGHT), message, None, None, options, None
    key = (VIEW, "frame", other, datasets.version_tag(other))
    data = datasets.cached(sel.dataset, key, lambda: frame(datasets, sel, other), disk=False)
    labels = (model_label(datasets.manifest(sel.dataset)), model_label(datasets.manifest(other)))
    revision = f"{sel.dataset}|{other}@{datasets.version_tag(sel.dataset)}"
    note = f"A: {sel.dataset} ({labels[0]}); B: {other} ({labels[1]}); dotted line: equal r."
    drivers = drivers_block(datasets, sel, other)
    return figure(data, sel.gene_id, labels, revision), note, summary(data), drivers, options, other


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(
        Output(f"{VIEW}-graph", "figure"),
        Output(f"{VIEW}-note", "children"),
        Output(f"{VIEW}-summary", "children"),
        Output(f"{VIEW}-drivers", "children"),
        Output(f"{VIEW}-other", "options"),
        Output(f"{VIEW}-other", "value"),  # the store compared with, shown (its own input: no cycle)
        Input("app-selection", "data"),
        Input(f"{VIEW}-other", "value"),
        Input("jobs-version", "data"),
    )
    def update(selection, other, _version):
        sel = Selection.from_dict(selection, datasets)
        if sel is None:
            return theme.message_figure("Loading…", height=HEIGHT), "", None, None, no_update, no_update
        *views, chosen = render(datasets, sel, other if isinstance(other, str) else None)
        return *views, chosen if chosen != other else no_update

    register_exports(app, datasets, VIEW, frame)
