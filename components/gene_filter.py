"""Gene subset filter: all genes, genes with a SuSiE causal variant, Enformer test-set genes.

The chosen subset filters the volcano, the driver histograms and the
sensitivity summaries (the paper's sensitivity analyses). Subsets a dataset
cannot define (SuSiE needs the published fine-mapping columns) are disabled.
"""

from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update

from components.data import Datasets
from components.selection import dataset_name
from compute.store.subsets import SUBSETS

VIEW = "filter"
LABELS = {"all": "All genes", "susie": "SuSiE causal", "test_set": "Enformer test set"}


def layout() -> html.Div:
    return html.Div(
        className="filterbar",
        id=f"{VIEW}-bar",
        children=[
            html.Span("Genes:", className="datasets-label", title="Filters the volcano and every summary"),
            dcc.RadioItems(
                id=f"{VIEW}-subset",
                options=options(list(SUBSETS)),
                value="all",
                inline=True,
                className="filter-options",
                persistence=True,
                persistence_type="session",
            ),
            html.Span(id=f"{VIEW}-count", className="card-muted"),
        ],
    )


def options(available: list[str]) -> list[dict]:
    return [
        {"label": LABELS[key], "value": key, "disabled": key not in available, "title": SUBSETS[key]}
        for key in SUBSETS
    ]


def chosen(datasets: Datasets, dataset: str, subset: str | None) -> str:
    """The subset in force: the one asked for when the dataset has it, else all genes."""
    return subset if subset in datasets.subsets(dataset) else "all"


def count_text(datasets: Datasets, dataset: str, subset: str | None) -> str:
    key = chosen(datasets, dataset, subset)
    mask = datasets.subset_mask(dataset, key)
    return f"{int(mask.sum()):,} of {len(mask):,} genes"


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(
        Output(f"{VIEW}-subset", "options"),
        Output(f"{VIEW}-count", "children"),
        Input("app-dataset", "data"),
        Input(f"{VIEW}-subset", "value"),
        Input("jobs-version", "data"),
        State(f"{VIEW}-subset", "options"),
    )
    def update(dataset, subset, version, current):
        dataset = dataset_name(dataset, datasets)
        if dataset is None:
            return current, ""
        datasets.seen(dataset, version)
        found = options(datasets.subsets(dataset))
        return found if found != current else no_update, count_text(datasets, dataset, subset)
