"""Sequence-logo figure of ISM around a SNV with the motifs it breaks or creates.

A plain plotly figure dict (no Dash): letters are filled SVG paths placed in
data coordinates, stacked per position from the smallest height outwards,
positive heights above zero and negative ones below. Motif sites come from the
scan table (`compute.analyses.motifs.scan_snvs`: hit_offset, motif_length, ...) and are
drawn as labelled bars above the logo. Only plotly-compatible dicts, pandas and
numpy are used here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LETTER_COLOURS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}
EFFECT_COLOURS = {"breaks": "#b2182b", "creates": "#2166ac", "changes": "#7f7f7f"}
SNV_COLOUR = "#111111"


def _arc(radius: float, start: float, end: float, steps: int = 18) -> list[tuple[float, float]]:
    """Points of an ellipse arc in the unit box (centre 0.5, 0.5), angles in degrees."""
    angles = np.radians(np.linspace(start, end, steps))
    return [(0.5 + radius * math.cos(a), 0.5 + radius * math.sin(a)) for a in angles]


def _glyphs() -> dict[str, list[list[tuple[float, float]]]]:
    """Each letter as closed polygons in the unit box (A's hole is a second polygon inside it)."""
    c_shape = _arc(0.5, 40, 320) + _arc(0.3, 320, 40)  # outer arc out, inner arc back
    # G: the C band closed at the bottom right by a bar reaching in to x = 0.55
    g_shape = _arc(0.5, 40, 360) + [(0.55, 0.5), (0.55, 0.36)] + _arc(0.3, 332, 40)
    return {
        "A": [
            [(0, 0), (0.4, 1), (0.6, 1), (1, 0), (0.78, 0), (0.68, 0.28), (0.32, 0.28), (0.22, 0)],
            [(0.38, 0.44), (0.62, 0.44), (0.5, 0.78)],
        ],
        "C": [c_shape],
        "G": [g_shape],
        "T": [[(0, 1), (1, 1), (1, 0.84), (0.58, 0.84), (0.58, 0), (0.42, 0), (0.42, 0.84), (0, 0.84)]],
    }


GLYPHS = _glyphs()


def letter_path(letter: str, x0: float, x1: float, y0: float, y1: float) -> str:
    """SVG path of `letter` filling the box [x0, x1] x [y0, y1] (y1 < y0 draws it upside down)."""
    parts = []
    for polygon in GLYPHS[letter]:
        points = [f"{x0 + (x1 - x0) * px:.4g},{y0 + (y1 - y0) * py:.6g}" for px, py in polygon]
        parts.append("M" + " L".join(points) + " Z")
    return " ".join(parts)


def logo_shapes(matrix: pd.DataFrame, width: float = 0.9) -> list[dict]:
    """One filled path per non-zero letter height; each position's letters stacked from zero outwards."""
    shapes = []
    for position, row in matrix.iterrows():
        x0, x1 = float(position) - width / 2, float(position) + width / 2
        for sign in (1, -1):
            heights = [(abs(h), b) for b, h in row.items() if h * sign > 0]
            base = 0.0
            for height, letter in sorted(heights):  # smallest nearest the axis
                top = base + sign * height
                # From `base` to `top`: letters below zero come out upside down, as in logomaker.
                path = letter_path(letter, x0, x1, base, top)
                shapes.append(
                    {
                        "type": "path", "path": path, "xref": "x", "yref": "y",
                        "fillcolor": LETTER_COLOURS[letter], "line": {"width": 0}, "layer": "above",
                    }
                )  # fmt: skip
                base = top
    return shapes


def motif_logo_figure(
    matrix: pd.DataFrame,
    motifs: pd.DataFrame | None = None,
    *,
    snv_position: int = 0,
    max_motifs: int = 6,
    title: str | None = None,
    y_title: str = "ISM (letter height)",
) -> dict:
    """Plotly figure dict: the logo of `matrix` (`compute.store.ism_logo.ism_logo_matrix`) and motif bars.

    `matrix`: rows = positions (index, the SNV at `snv_position`), columns A, C,
    G, T. `motifs`: rows of the scan table for this SNV; the `max_motifs` with
    the smallest p-value are drawn as bars over the sites they match, coloured by
    effect, labelled with name, strand and score change.
    """
    missing = [b for b in "ACGT" if b not in matrix.columns]
    if missing:
        raise ValueError(f"logo matrix lacks columns {missing}")
    positions = matrix.index.to_numpy(dtype=float)
    positive = matrix.clip(lower=0).sum(axis=1).to_numpy()
    negative = matrix.clip(upper=0).sum(axis=1).to_numpy()
    top = float(max(positive.max(initial=0), 1e-9))
    bottom = float(min(negative.min(initial=0), 0))
    hover = [
        f"position {p:+d}<br>" + "<br>".join(f"{b}: {row[b]:.3g}" for b in "ACGT")
        for p, (_, row) in zip(matrix.index.astype(int), matrix.iterrows(), strict=True)
    ]
    data = [
        {
            "type": "scatter", "x": positions.tolist(), "y": positive.tolist(), "mode": "markers",
            "marker": {"size": 14, "opacity": 0}, "hovertext": hover, "hoverinfo": "text",
            "showlegend": False, "name": "ISM",
        }
    ]  # fmt: skip
    shapes = logo_shapes(matrix)
    shapes.append(
        {
            "type": "line", "x0": snv_position, "x1": snv_position, "y0": 0, "y1": 1,
            "xref": "x", "yref": "paper", "line": {"color": SNV_COLOUR, "dash": "dot", "width": 1},
            "layer": "below",
        }
    )  # fmt: skip
    annotations = []
    shown = _motifs_to_draw(motifs, max_motifs)
    step = 0.14 * (top - bottom)
    for i, row in enumerate(shown.itertuples()):
        y0 = top + step * (0.4 + i)
        x0 = snv_position + row.hit_offset - 0.45
        x1 = snv_position + row.hit_offset + row.motif_length - 0.55
        colour = EFFECT_COLOURS.get(row.effect, EFFECT_COLOURS["changes"])
        shapes.append(
            {
                "type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y0 + 0.6 * step,
                "xref": "x", "yref": "y", "fillcolor": colour, "opacity": 0.35,
                "line": {"color": colour, "width": 1},
            }
        )  # fmt: skip
        annotations.append(
            {
                "x": (x0 + x1) / 2, "y": y0 + 0.3 * step, "xref": "x", "yref": "y", "showarrow": False,
                "text": f"{row.motif_name} ({row.strand}) {row.effect} Δ{row.delta:+.1f}",
                "font": {"size": 11},
            }
        )  # fmt: skip
    upper = top + step * (0.4 + len(shown)) if len(shown) else top * 1.05
    layout = {
        "height": 320 + 22 * len(shown),
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 64, "r": 16, "t": 36 if title else 16, "b": 48},
        "showlegend": False,
        "shapes": shapes,
        "annotations": annotations,
        "xaxis": {
            "title": {"text": "position relative to the SNV (bp)"}, "zeroline": False,
            "range": [positions.min() - 0.6, positions.max() + 0.6], "showgrid": False,
        },
        "yaxis": {
            "title": {"text": y_title}, "range": [bottom - 0.05 * (top - bottom), upper],
            "zeroline": True, "zerolinecolor": "#888", "gridcolor": "#ececec",
        },
    }  # fmt: skip
    if title:
        layout["title"] = {"text": title}
    return {"data": data, "layout": layout}


def _motifs_to_draw(motifs: pd.DataFrame | None, max_motifs: int) -> pd.DataFrame:
    if motifs is None or motifs.empty:
        return pd.DataFrame(columns=["motif_name", "strand", "effect", "delta", "hit_offset", "motif_length"])
    order = np.minimum(motifs.ref_p.to_numpy(), motifs.alt_p.to_numpy()).argsort(kind="stable")
    return motifs.iloc[order[:max_motifs]]
