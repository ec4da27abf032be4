"""Linked selection through the URL.

Every click (search, volcano or sensitivity point, SNV in any view, driver on the card)
becomes a new URL; the URL is parsed into the one `app-selection` store that
every view listens to. So links can be shared and the back button works.
"""

from __future__ import annotations

import logging

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from components import auth
from components.data import Datasets
from components.selection import Selection, gene_url, parse_url
from components.snv_common import LD_PREFIX, clicked_snv

log = logging.getLogger(__name__)
SNV_GRAPHS = ["ism_eqtl-graph", "locus-graph", "tss_hist-graph"]
GENE_GRAPHS = ["volcano-graph", "sensitivity-graph", "models-graph"]  # points carry customdata [gene_id, ...]


def layout() -> list:
    return [
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="app-selection"),
        dcc.Store(id="app-dataset"),  # the selection's dataset, set only when it changes
    ]


def message_banner() -> html.Div:
    return html.Div(id="app-message", className="message hidden", role="status")


def dataset_switcher() -> html.Nav:
    return html.Nav(id="app-datasets", className="datasets", **{"aria-label": "datasets"})


def user_bar() -> html.Div:
    """Who is signed in, and the sign-out (a plain form: the session ends on the server's answer)."""
    return html.Div(
        className="user-bar",
        children=[
            html.Span(id="user-name", className="user-name"),
            html.Form(html.Button("Sign out", type="submit", className="small"), action="/auth/sign-out",
                      method="POST"),  # fmt: skip
        ],
    )


def register_user_bar(app: Dash) -> None:
    @app.callback(Output("user-name", "children"), Input("url", "pathname"))
    def user_name(_pathname):
        user = auth.current_user()
        if user is None:
            return ""
        if user.may("admin"):  # the users and the audit log's latest events
            return [f"{user.name} · ", html.A("admin", href="/admin", className="user-admin")]
        return f"{user.name} · {user.role}"


def url_name(datasets: Datasets, dataset: str, gene_id: str) -> str:
    """The gene's name in URLs when it names one gene only, else its ID."""
    row = datasets.gene_row(dataset, gene_id)
    if row is not None and datasets.find_gene(dataset, str(row["gene_name"])) == gene_id:
        return str(row["gene_name"])
    return gene_id


def selection_for(datasets: Datasets, pathname: str | None, search: str | None) -> Selection:
    try:
        return parse_url(datasets, pathname, search)
    except Exception:  # a URL must never break the page
        log.exception("cannot read URL %.80r %.80r", pathname, search)  # never a huge input in the log
        return Selection(datasets.default, message="This address could not be read. Search for a gene.")


def message(sel: Selection) -> tuple[str, str]:
    """The banner's text and class for a selection."""
    return sel.message or "", "message" if sel.message else "message hidden"


def register(app: Dash, datasets: Datasets) -> None:
    @app.callback(
        Output("app-selection", "data"),
        Output("app-message", "children"),
        Output("app-message", "className"),
        Output("app-dataset", "data"),
        Output("app-datasets", "children"),
        Input("url", "pathname"),
        Input("url", "search"),
        State("app-dataset", "data"),
    )
    def read_url(pathname, search, current_dataset):
        sel = selection_for(datasets, pathname, search)
        if sel.gene_id is not None:
            datasets.prefetch(sel.dataset, sel.gene_id, sel.snv)
        # the views of a whole dataset (the filter bar, the compute strip) follow `app-dataset`:
        # a gene switch within a dataset does not ask them for anything
        dataset = sel.dataset if sel.dataset != current_dataset else no_update
        if sel.dataset and sel.dataset != current_dataset:
            auth.record("dataset-open", dataset=sel.dataset)
        return sel.to_dict(), *message(sel), dataset, dataset_links(datasets, sel)

    # A store that changed (a gene landed: a page waiting for it now shows it) reads the URL again.
    # Its own callback, writing the selection only: the compute strip's poll, which writes
    # `jobs-version`, follows `app-dataset`, so `read_url` taking `jobs-version` would close a cycle.
    @app.callback(
        Output("app-selection", "data", allow_duplicate=True),
        Output("app-message", "children", allow_duplicate=True),
        Output("app-message", "className", allow_duplicate=True),
        Output("app-datasets", "children", allow_duplicate=True),
        Input("jobs-version", "data"),
        State("url", "pathname"),
        State("url", "search"),
        State("app-selection", "data"),
        prevent_initial_call=True,
    )
    def reread_url(version, pathname, search, current):
        shown = Selection.from_dict(current, datasets)
        if shown is not None:
            datasets.seen(shown.dataset, version)
        sel = selection_for(datasets, pathname, search)
        if sel.to_dict() == current:
            return no_update, no_update, no_update, no_update  # the store changed, not what this page shows
        return sel.to_dict(), *message(sel), dataset_links(datasets, sel)

    @app.callback(
        Output("url", "href"),
        Output("search-dropdown", "value"),
        Input("search-dropdown", "value"),
        Input("volcano-graph", "clickData"),
        Input("sensitivity-graph", "clickData"),
        Input("models-graph", "clickData"),
        *[Input(g, "clickData") for g in SNV_GRAPHS],
        Input({"type": "card-snv", "index": ALL}, "n_clicks"),
        State("app-selection", "data"),
        prevent_initial_call=True,
    )
    def navigate(gene_choice, *rest):
        selection = rest[-1]
        sel = Selection.from_dict(selection, datasets)
        trigger = ctx.triggered_id
        if sel is None or trigger is None:
            return no_update, no_update
        if trigger == "search-dropdown":
            if not isinstance(gene_choice, str) or not gene_choice:
                return no_update, no_update
            if datasets.find_gene(sel.dataset, gene_choice) is None:
                if datasets.find_pending(sel.dataset, gene_choice) is None:
                    return no_update, no_update
                return gene_url(sel.dataset, gene_choice), None  # a cohort gene not computed yet
            return gene_url(sel.dataset, url_name(datasets, sel.dataset, gene_choice)), None
        if trigger in GENE_GRAPHS:
            try:
                gene_id = str(ctx.triggered[0]["value"]["points"][0]["customdata"][0])
            except (KeyError, IndexError, TypeError):
                return no_update, no_update
            if datasets.find_gene(sel.dataset, gene_id) is None:
                return no_update, no_update
            return gene_url(sel.dataset, url_name(datasets, sel.dataset, gene_id)), no_update
        if sel.gene_id is None:
            return no_update, no_update
        if isinstance(trigger, dict):  # a driver button on the card
            if not ctx.triggered[0]["value"]:
                return no_update, no_update  # buttons appearing, not clicked
            snv = str(trigger.get("index", "")).removeprefix(LD_PREFIX)
        else:
            snv = clicked_snv(ctx.triggered[0]["value"])
        if not snv or snv == sel.snv:
            return no_update, no_update
        return gene_url(sel.dataset, url_name(datasets, sel.dataset, sel.gene_id), snv), no_update


def dataset_links(datasets: Datasets, sel: Selection) -> list | object:
    """The dataset switcher for a selection: a link to the same gene in each dataset this request
    may see (answered with the URL's selection: no request of its own on a gene switch)."""
    if not datasets.visible(sel.dataset):
        return no_update
    gene = url_name(datasets, sel.dataset, sel.gene_id) if sel.gene_id else None
    links = []
    for name in datasets.names:
        classes = "dataset-link active" if name == sel.dataset else "dataset-link"
        links.append(
            dcc.Link(
                name,
                href=gene_url(name, gene),
                className=classes,
                title=datasets.describe(name),
                id={"type": "dataset-link", "index": name},
            )
        )
    return [html.Span("Dataset:", className="datasets-label"), *links]
