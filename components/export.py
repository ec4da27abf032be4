"""Exports shared by every figure panel: PNG/SVG drawn in the browser, CSV of the plotted data.

PNG and SVG come from plotly.js itself (`Plotly.downloadImage`, served
locally with the app), so they work offline and match the screen. The CSV is
made on the server from the same frame the figure was built from.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from dash import Dash, Input, Output, State, dcc, no_update

from components import auth, theme
from components.data import Datasets
from components.selection import Selection

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


def register_selection_view(
    app: Dash,
    datasets: Datasets,
    view: str,
    render: Callable[..., tuple],
    frame: Callable[..., pd.DataFrame],
    loading_height: int | None = None,
    filtered: bool = False,
) -> None:
    """The callbacks of a panel that follows the selection: its figure and note, and its exports.

    `render(datasets, selection)` returns (figure, note); with `filtered` the panel also follows
    the filter bar's gene subset, `render(datasets, selection, subset)` (and `frame` likewise).
    What a gene's panel shows is rendered once per gene, SNV (and subset) and store state, and
    shared through the view cache: the other tabs and workers showing it take it from there.
    """
    loading = {} if loading_height is None else {"height": loading_height}
    outputs = [Output(f"{view}-graph", "figure"), Output(f"{view}-note", "children")]
    # a panel over all genes also follows the filter bar and the store's genes as they land
    inputs = [Input("app-selection", "data")]
    if filtered:
        inputs += [Input("filter-subset", "value"), Input("jobs-version", "data")]

    @app.callback(*outputs, *inputs)
    def update(selection, *rest):
        sel = Selection.from_dict(selection, datasets)
        if sel is None:
            return theme.message_figure("Loading…", **loading), ""
        args = rest[:1]
        if filtered:  # anything but a subset the dataset has is all genes (never a key made up)
            datasets.seen(sel.dataset, rest[1])
            args = (args[0] if args and args[0] in datasets.subsets(sel.dataset) else "all",)

        def draw() -> tuple:
            figure, *more = render(datasets, sel, *args)
            return (theme.typed_arrays(figure), *more)

        if sel.gene_id is None:
            return draw()
        return datasets.cached(sel.dataset, ("view", view, sel.gene_id, sel.snv, *args), draw)

    register_exports(app, datasets, view, frame, filtered=filtered)
