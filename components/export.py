"""Exports shared by every figure panel: PNG/SVG drawn in the browser, CSV of the plotted data.

PNG and SVG come from plotly.js itself (`Plotly.downloadImage`, served
locally with the app), so they work offline and match the screen. The CSV is
made on the server from the same frame the figure was built from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from dash import Dash, Input, Output, State, dcc, no_update

from components import auth, theme
from components.data import Datasets
from components.selection import Selection

log = logging.getLogger(__name__)

_DOWNLOAD_IMAGE = """
function(n, format) {
    if (!n) { return window.dash_clientside.no_update; }
    const panel = document.getElementById('%(view)s-graph');
    const plot = panel && panel.querySelector('.js-plotly-plot');
    if (plot && window.Plotly) {
        const options = {format: String(format).toLowerCase(), filename: '%(view)s', scale: 2};
        window.Plotly.downloadImage(plot, options);
    }
    return window.dash_clientside.no_update;
}
"""


def register_exports(
    app: Dash,
    datasets: Datasets,
    view: str,
    frame: Callable[..., pd.DataFrame],
    filtered: bool = False,
) -> None:
    """PNG/SVG buttons (client side) and the CSV download (server side) of one panel.

    `frame(datasets, selection)` gives the plotted data; with `filtered` it also
    takes the gene subset of the filter bar, `frame(datasets, selection, subset)`.
    """
    for fmt in ("png", "svg"):
        app.clientside_callback(
            _DOWNLOAD_IMAGE % {"view": view},
            Output(f"{view}-{fmt}", "title"),
            Input(f"{view}-{fmt}", "n_clicks"),
            State(f"{view}-{fmt}", "children"),  # the button label: PNG or SVG
            prevent_initial_call=True,
        )

    @app.callback(
        Output(f"{view}-download", "data"),
        Input(f"{view}-csv", "n_clicks"),
        State("app-selection", "data"),
        State("filter-subset", "value"),
        prevent_initial_call=True,
    )
    def download_csv(n_clicks, selection, subset):
        sel = Selection.from_dict(selection, datasets)
        if not n_clicks or sel is None:
            return no_update
        data = frame(datasets, sel, subset) if filtered else frame(datasets, sel)
        name = "_".join(p for p in (view, sel.dataset, sel.gene_id) if p)
        auth.record("export", dataset=sel.dataset, gene=sel.gene_id, view=view, rows=len(data))
        return dcc.send_data_frame(data.to_csv, f"{name}.csv", index=False)


@dataclass(frozen=True)
class SelectionPanel:
    """A figure panel that follows the selection alone: `render(datasets, selection)` returns its
    (figure, note)."""

    view: str
    render: Callable[..., tuple]
    loading_height: int | None = None


def register_selection_views(app: Dash, datasets: Datasets, panels: Sequence[SelectionPanel]) -> None:
    """One callback for several panels that follow the selection (their figures and notes): a gene
    switch asks for them in one request instead of one each, and each request costs the server
    about a millisecond in Dash and HTTP before any panel is drawn. What a gene's panel shows is
    still rendered once per panel, gene and SNV and store state, and shared through the view cache:
    the other tabs and workers showing it take it from there. A panel that fails says so in its
    place (and in the log) instead of leaving the others undrawn."""
    outputs = [
        o for p in panels for o in (Output(f"{p.view}-graph", "figure"), Output(f"{p.view}-note", "children"))
    ]

    @app.callback(*outputs, Input("app-selection", "data"))
    def update(selection):
        sel = Selection.from_dict(selection, datasets)
        return [part for panel in panels for part in panel_answer(datasets, sel, panel)]


def panel_answer(datasets: Datasets, sel: Selection | None, panel: SelectionPanel) -> tuple:
    """(figure, note) of one panel for the selection, as its callback sends it (typed arrays)."""
    loading = {} if panel.loading_height is None else {"height": panel.loading_height}
    if sel is None:
        return theme.message_figure("Loading…", **loading), ""

    def draw() -> tuple:
        figure, note = panel.render(datasets, sel)
        return theme.typed_arrays(figure), note

    try:
        if sel.gene_id is None:
            return draw()
        return datasets.cached(sel.dataset, ("view", panel.view, sel.gene_id, sel.snv), draw)
    except Exception:
        log.exception("the %s panel failed for %s %s %s", panel.view, sel.dataset, sel.gene_id, sel.snv)
        message = "This panel could not be drawn for this selection (the server's log says why)."
        return theme.message_figure(message, **loading), message


def register_gene_set_panels(app: Dash, datasets: Datasets, modules: Sequence) -> None:
    """One callback for the panels over the filter bar's genes that a gene switch only patches
    (the volcano's and the sensitivity scatter's highlight, the histograms' triangles): one request
    instead of one each. Each module gives its `OUTPUTS` and `answer(datasets, selection, subset,
    version, shown)`, with `shown` its `{VIEW}-shown` store: what its full figure shows."""
    outputs = [Output(ident, prop) for module in modules for ident, prop in module.OUTPUTS]
    shown = [State(f"{module.VIEW}-shown", "data") for module in modules]

    @app.callback(*outputs, Input("app-selection", "data"), Input("filter-subset", "value"),
                  Input("jobs-version", "data"), *shown)  # fmt: skip
    def update(selection, subset, version, *shown):
        return [
            part
            for module, was in zip(modules, shown, strict=True)
            for part in module.answer(datasets, selection, subset, version, was)
        ]
