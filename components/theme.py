"""Colours, fonts, figure defaults and the figure panel every view shares.

One palette for the whole dashboard so a talk reads the same on every slide:
blue/red = positive/negative r, green/orange = supported/unsupported driver,
grey = not significant / not a driver, black ring = the current selection.
"""

from __future__ import annotations

import plotly.graph_objects as go
from dash import dcc, html

POSITIVE = "#2166ac"  # r > 0
NEGATIVE = "#b2182b"  # r < 0
NOT_SIGNIFICANT = "#c4c4c4"
SUPPORTED = "#1b9e77"  # sign(ISM) == sign(eQTL slope)
UNSUPPORTED = "#d95f02"
BACKGROUND_SNV = "#9a9a9a"
SELECTED = "#111111"
TSS = "#6a3d9a"
DOSAGE = {0: "#8da0cb", 1: "#66a61e", 2: "#e7298a"}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def graph_config(filename: str) -> dict:
    """Plotly config: modebar PNG export at 2x, no plotly.com links, no logo."""
    return {
        "displaylogo": False,
        "displayModeBar": "hover",
        "showLink": False,
        "showSendToCloud": False,
        "responsive": True,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
    }


def style(fig: go.Figure, *, height: int = 380, legend: bool = True) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 64, "r": 16, "t": 36, "b": 56},
        font={"family": FONT, "size": 13, "color": "#222"},
        hoverlabel={"font": {"family": FONT, "size": 12}},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left", "x": 0},
        uirevision="keep",  # keep zoom when only the highlight changes
    )
    fig.update_xaxes(zeroline=False, showline=True, linecolor="#888", ticks="outside")
    fig.update_yaxes(zeroline=False, showline=True, linecolor="#888", ticks="outside")
    return fig


def message_figure(message: str, *, height: int = 380) -> go.Figure:
    """An empty figure that says why it is empty, instead of blank axes."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": "#666"},
    )
    style(fig, height=height, legend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def figure_panel(view: str, title: str, *, description: str = "", height: int = 380) -> html.Section:
    """A titled panel: the graph `{view}-graph`, a note `{view}-note`, PNG/SVG/CSV export buttons."""
    return html.Section(
        className="panel",
        id=f"{view}-panel",
        children=[
            html.Header(
                className="panel-header",
                children=[
                    html.H2(title),
                    html.Div(
                        className="export",
                        children=[
                            html.Button(
                                "PNG",
                                id=f"{view}-png",
                                className="export-button",
                                title="Download the figure as PNG",
                            ),
                            html.Button(
                                "SVG",
                                id=f"{view}-svg",
                                className="export-button",
                                title="Download the figure as SVG",
                            ),
                            html.Button(
                                "CSV",
                                id=f"{view}-csv",
                                className="export-button",
                                title="Download the plotted data as CSV",
                            ),
                            dcc.Download(id=f"{view}-download"),
                        ],
                    ),
                ],
            ),
            html.P(description, className="panel-description") if description else None,
            dcc.Graph(
                id=f"{view}-graph",
                figure=message_figure("Loading…", height=height),
                config=graph_config(view),
                style={"height": f"{height}px"},
            ),
            html.P(id=f"{view}-note", className="panel-note"),
        ],
    )
