"""Gene search: a type-ahead over all genes by name or Ensembl ID, filtered on the server.

The browser never holds the full gene list: each keystroke asks the server
for the first matches (name prefix, then ID prefix, then substring).
"""

from __future__ import annotations

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from components.data import Datasets
from components.selection import Selection

VIEW = "search"
LIMIT = 30
MAX_QUERY = 100  # characters of the search text that are matched


def layout() -> html.Div:
    return html.Div(
        className="search",
        children=[
            dcc.Dropdown(
                id=f"{VIEW}-dropdown",
                options=[],
                value=None,
                searchable=True,
                clearable=True,
                placeholder="Search a gene by name or Ensembl ID (e.g. DDX11)",
                search_order="original",
            ),
        ],
    )


def matches(genes: pd.DataFrame, text: str, limit: int = LIMIT) -> pd.DataFrame:
    """Genes whose name or ID starts with, then contains, `text` (case-insensitive)."""
    text = text.strip().upper()
    if not text:
        return genes.iloc[0:0]
    names = genes["gene_name"].astype(str).str.upper()
    ids = genes["gene_id"].astype(str).str.upper()
    exact = (names == text) | (ids == text)
    prefix = names.str.startswith(text) | ids.str.startswith(text)
    contains = names.str.contains(text, regex=False)
    rank = pd.Series(3, index=genes.index)
    rank[contains] = 2
    rank[prefix] = 1
    rank[exact] = 0
    hits = genes.assign(_rank=rank, _len=names.str.len()).loc[rank < 3]
    return hits.sort_values(["_rank", "_len", "gene_name"]).head(limit).drop(columns=["_rank", "_len"])


def options(genes: pd.DataFrame, pending: pd.DataFrame | None = None) -> list[dict]:
    """Dropdown options: computed genes with their r, then cohort genes not computed yet (greyed)."""
    found = [
        {"label": f"{g.gene_name}  ·  {g.gene_id}  ·  r = {g.r:+.2f}", "value": g.gene_id}
        for g in genes.itertuples()
    ]
    for g in () if pending is None else pending.itertuples():
        label = html.Span(f"{g.gene_name}  ·  {g.gene_id}  ·  not computed", className="not-computed")
        found.append({"label": label, "value": g.gene_id, "search": f"{g.gene_name} {g.gene_id}"})
    return found


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(
        Output(f"{VIEW}-dropdown", "options"),
        Input(f"{VIEW}-dropdown", "search_value"),
        State("app-selection", "data"),
    )
    def suggest(text, selection):
        sel = Selection.from_dict(selection, datasets)
        if sel is None or not isinstance(text, str) or not text:
            return no_update
        text = text[:MAX_QUERY].encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
        genes = datasets.genes(sel.dataset)
        pending_ids = datasets.pending_ids(sel.dataset)
        pending = None
        if pending_ids:
            cohort = datasets.cohort_genes(sel.dataset)
            pending = matches(cohort.loc[cohort["gene_id"].isin(pending_ids)], text, LIMIT // 3)
        return options(matches(genes, text), pending)
