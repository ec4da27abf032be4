"""Colours, fonts, figure defaults and the figure panel every view shares.

One palette for the whole dashboard so a talk reads the same on every slide:
blue/red = positive/negative r, green/orange = supported/unsupported driver,
grey = not significant / not a driver, black ring = the current selection.
"""

from __future__ import annotations

import base64

import numpy as np
from dash import dcc, html

POSITIVE = "#2166ac"  # r > 0
NEGATIVE = "#b2182b"  # r < 0
NOT_SIGNIFICANT = "#c4c4c4"
SUPPORTED = "#1b9e77"  # sign(ISM) == sign(eQTL slope)
UNSUPPORTED = "#d95f02"
UNKNOWN = "#5d5d5d"  # driver without an eQTL slope to compare with
BACKGROUND_SNV = "#9a9a9a"
SELECTED = "#111111"
TSS = "#6a3d9a"
DOSAGE = {0: "#8da0cb", 1: "#66a61e", 2: "#e7298a"}
# LocusZoom's LD colours, r² bins 0-0.2 ... 0.8-1, grey for no r², purple diamond for the reference SNV
LD_COLOURS = ("#357ebd", "#46b8da", "#5cb85c", "#eea236", "#d43f3a")
LD_UNKNOWN = "#b8b8b8"
LD_REFERENCE = "#9632b8"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


# Figures are plain plotly JSON dicts: building plotly.graph_objects (validation,
# template deep copies) costs tens of ms per figure, which would dominate a gene
# switch. tests/test_components.py validates every figure through go.Figure.
AXIS = {
    "gridcolor": "#ececec", "linecolor": "#888", "showline": True, "ticks": "outside",
    "zeroline": False, "automargin": True,
}  # fmt: skip


def axis(title: str, **extra) -> dict:
    return {**AXIS, "title": {"text": title}, **extra}


def layout(*, height: int = 380, legend: bool = True, revision: str | None = None, **extra) -> dict:
    """The dashboard's figure layout; `revision` keeps zoom while it stays the same."""
    return {
        "height": height,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 64, "r": 16, "t": 36, "b": 56},
        "font": {"family": FONT, "size": 13, "color": "#222"},
        "hoverlabel": {"font": {"family": FONT, "size": 12}},
        "hovermode": "closest",
        "showlegend": legend,
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left", "x": 0},
        "uirevision": revision or "none",
        **extra,
    }


def vline(x: float, colour: str, *, dash: str = "solid", width: float = 1, xref: str = "x", yref="y domain"):
    return {
        "type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "xref": xref, "yref": yref,
        "line": {"color": colour, "dash": dash, "width": width}, "layer": "below",
    }  # fmt: skip


def hline(y: float, colour: str, *, dash: str = "solid", width: float = 1, xref="x domain", yref: str = "y"):
    return {
        "type": "line", "y0": y, "y1": y, "x0": 0, "x1": 1, "xref": xref, "yref": yref,
        "line": {"color": colour, "dash": dash, "width": width}, "layer": "below",
    }  # fmt: skip


def diagonal(low: float = -1, high: float = 1) -> dict:
    """The y = x line of a scatter of one quantity by two methods, dotted, under the points."""
    return {
        "type": "line", "x0": low, "y0": low, "x1": high, "y1": high, "xref": "x", "yref": "y",
        "line": {"color": "#888", "dash": "dot", "width": 1}, "layer": "below",
    }  # fmt: skip


def note(text: str, x: float, y: float, xanchor: str = "left", yanchor: str = "top", **extra) -> dict:
    """A text annotation placed in paper coordinates."""
    return {
        "text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "xanchor": xanchor,
        "yanchor": yanchor, "showarrow": False, **extra,
    }  # fmt: skip


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


def message_figure(message: str, *, height: int = 380) -> dict:
    """An empty figure that says why it is empty, instead of blank axes."""
    return {
        "data": [],
        "layout": layout(
            height=height, legend=False, xaxis={"visible": False}, yaxis={"visible": False},
            annotations=[note(message, 0.5, 0.5, "center", "middle", font={"size": 15, "color": "#666"})],
        ),
    }  # fmt: skip


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


# Point arrays leave the server as plotly.js typed arrays (base64 of the raw bytes), not JSON
# lists of numbers: ~3x fewer bytes for a float, and no per-number formatting (the SNV views
# carry ~3,000 points each). Positions and sizes go as float32 (a pixel is far coarser);
# customdata goes as the view made it (hover labels print it: float64 unless the view chose less).
TYPED_KEYS = {"x": "f4", "y": "f4", "size": "f4", "opacity": "f4", "width": "f4", "customdata": None}
NATIVE = {"float32": "f4", "float64": "f8", "int8": "i1", "uint8": "u1", "int16": "i2", "int32": "i4"}


def typed_array(values: np.ndarray, dtype: str) -> dict:
    """plotly.js's typed array spec of a numeric array ({dtype, bdata[, shape]})."""
    data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    spec = {"dtype": dtype, "bdata": base64.b64encode(data.tobytes()).decode("ascii")}
    if data.ndim > 1:
        spec["shape"] = ", ".join(map(str, data.shape))
    return spec


def typed_trace(trace: dict) -> dict:
    """A trace with its numeric numpy arrays (and its marker's) as typed arrays; the dict given is
    left as it was. Text arrays stay lists (a click reads a point's text)."""
    out = {}
    for key, value in trace.items():
        if isinstance(value, dict):
            out[key] = typed_trace(value)
        elif isinstance(value, np.ndarray) and key in TYPED_KEYS and value.size and value.dtype.kind in "fiu":
            out[key] = typed_array(value, TYPED_KEYS[key] or NATIVE.get(str(value.dtype), "f8"))
        else:
            out[key] = value
    return out


def typed_arrays(figure: dict) -> dict:
    """The figure with every trace's point arrays as typed arrays (`typed_trace`)."""
    if not isinstance(figure, dict) or "data" not in figure:
        return figure
    return {**figure, "data": [typed_trace(t) if isinstance(t, dict) else t for t in figure["data"]]}
