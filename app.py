"""The dashboard: `python app.py [--results DIR ...] [--host 127.0.0.1] [--port 8050] [--debug]`.

Serves linked views of one or more results stores (default: the shipped
data/published and data/demo) with a production WSGI server (waitress; `--debug`
runs Dash's development server instead). Everything is served from this process:
no CDN, no external fonts or scripts. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dash import Dash, html

import components
from components import navigation, request_guard
from components.data import Datasets
from compute.errors import InputError

ROOT = Path(__file__).resolve().parent
DEFAULT_STORES = [ROOT / "data" / "published", ROOT / "data" / "demo"]
TITLE = "Personal expression explorer"
SERVER_THREADS = 8  # callbacks are numpy-bound and short: a few threads per core


def default_store_paths() -> list[Path]:
    return [p for p in DEFAULT_STORES if (p / "manifest.json").is_file()]


def build_layout() -> html.Div:
    v = components
    return html.Div(
        className="app",
        children=[
            *navigation.layout(),
            html.Header(
                className="topbar",
                children=[
                    html.Div(
                        [
                            html.H1(TITLE),
                            html.P("Does a sequence model explain why people differ?", className="subtitle"),
                        ]
                    ),
                    v.search.layout(),
                    navigation.dataset_switcher(),
                ],
            ),
            navigation.message_banner(),
            v.gene_filter.layout(),
            html.Main(
                className="grid",
                children=[
                    html.Div(className="row row-top", children=[v.gene_card.layout(), v.volcano.layout()]),
                    html.Div(className="row", children=[v.expression.layout(), v.ism_eqtl.layout()]),
                    html.Div(className="row row-wide", children=[v.locus.layout()]),
                    html.Div(className="row", children=[v.ism_logo.layout(), v.sensitivity.layout()]),
                    html.Div(className="row", children=[v.tss_hist.layout(), v.genotype.layout()]),
                ],
            ),
            html.Footer(
                "Sasse et al. 2023, Nat Genet 55:2060–2064. Published results: GPL-3.0, see data/published.",
                className="footer",
            ),
        ],
    )


def create_app(store_paths: Sequence[str | Path]) -> Dash:
    """A Dash app over the given results stores (the first is shown first)."""
    datasets = Datasets(list(store_paths))
    app = Dash(
        __name__,
        title=TITLE,
        update_title=None,
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        assets_folder=str(ROOT / "assets"),
        suppress_callback_exceptions=False,
    )
    app.layout = build_layout()
    request_guard.install(app)
    navigation.register(app, datasets)
    for view in components.ALL_VIEWS:
        view.register(app, datasets)
    app.datasets = datasets  # for tests and benchmarks
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"{TITLE}: a dashboard over results stores.")
    parser.add_argument(
        "--results",
        action="append",
        metavar="DIR",
        help="a results store directory (repeat for several; default: data/published, data/demo)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument(
        "--debug", action="store_true", help="Dash's development server in debug mode (reloader, dev tools)"
    )
    parser.add_argument(
        "--threads", type=int, default=SERVER_THREADS, help=f"server threads (default {SERVER_THREADS})"
    )
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.results] if args.results else default_store_paths()
    if not paths:
        print("error: no results store found; build data/published or pass --results DIR", file=sys.stderr)
        return 2
    try:
        app = create_app(paths)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{TITLE}: http://{args.host}:{args.port}/  datasets: {', '.join(app.datasets.names)}")
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True)
    else:
        serve(app, args.host, args.port, args.threads)
    return 0


def serve(app: Dash, host: str, port: int, threads: int = 8) -> None:
    """The production server (waitress): a fixed thread pool, timeouts on idle and half-sent
    requests, bounded request sizes; no debugger, no reloader."""
    from waitress import serve as waitress_serve

    waitress_serve(
        app.server, host=host, port=port, threads=max(threads, 1), channel_timeout=60,
        max_request_body_size=request_guard.MAX_BODY, max_request_header_size=64 * 1024,
        connection_limit=200, ident="personal-expression-explorer",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
