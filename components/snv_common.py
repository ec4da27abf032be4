"""Pieces the SNV views share: the plotted columns, hover text, marker sizes, traces by driver class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components import theme

SNV_COLUMNS = [
    "variant_id",
    "chrom",
    "pos",
    "ref",
    "alt",
    "maf",
    "tss_distance",
    "ism",
    "grad_x_input",
    "eqtl_slope",
    "eqtl_p",
    "is_driver",
    "is_main_driver",
    "driver_gain",
    "supported",
]
# Per point the browser gets the SNV id as `text`, REF>ALT as `hovertext` and the
# numbers below as a float array `customdata` (sent as compact binary, not as JSON
# lists of mixed objects: a gene has ~3,000 SNVs and two views show them all).
NUMBERS = ["pos", "tss_distance", "maf", "ism", "eqtl_slope"]


def hover(chrom: str, kind: str) -> str:
    return (
        f"<b>%{{text}}</b> (chr{chrom}:%{{customdata[0]:,}} %{{hovertext}})"
        "<br>%{customdata[1]:+,} bp from TSS, MAF %{customdata[2]:.3f}"
        f"<br>ISM %{{customdata[3]:+.4f}}, eQTL slope %{{customdata[4]:+.4f}}<br>{kind}<extra></extra>"
    )


def snv_frame(variants: pd.DataFrame) -> pd.DataFrame:
    if variants.empty:
        return pd.DataFrame(columns=SNV_COLUMNS)
    return variants[SNV_COLUMNS].reset_index(drop=True)


def point_data(data: pd.DataFrame) -> dict:
    """text, hovertext and customdata of SNV points, in the order of `data`."""
    return {
        "text": data["variant_id"].to_numpy(object),
        "hovertext": (
            data["ref"].fillna("?").astype(str) + ">" + data["alt"].fillna("?").astype(str)
        ).to_numpy(object),
        "customdata": data[NUMBERS].to_numpy(float),
    }


def flag(values: pd.Series) -> np.ndarray:
    """A boolean column as numpy bool, missing values as False."""
    return values.astype("boolean").fillna(False).to_numpy(bool)


def support(values: pd.Series) -> np.ndarray:
    """'supported', 'unsupported' or 'unknown' (no eQTL slope to compare with) per SNV."""
    state = values.astype("boolean")
    return np.where(state.isna(), "unknown", np.where(state.fillna(False), "supported", "unsupported"))


def marker_size(maf: pd.Series, smallest: float = 4, largest: float = 16) -> np.ndarray:
    """MAF 0..0.5 mapped linearly onto a marker diameter in px."""
    m = np.clip(maf.to_numpy(float), 0, 0.5) / 0.5
    return smallest + (largest - smallest) * np.nan_to_num(m)


def snv_traces(data: pd.DataFrame, x: str, y: str, scale_x: float = 1.0) -> list[dict]:
    """Non-drivers in grey, supported and unsupported drivers in colour; SNV id as `text`."""
    driver = flag(data["is_driver"])
    state = support(data["supported"])
    chrom = str(data["chrom"].iloc[0]) if len(data) else ""
    groups = [
        ("other SNVs", ~driver, theme.BACKGROUND_SNV, 0.45, 0, "not a driver"),
        ("supported driver", driver & (state == "supported"), theme.SUPPORTED, 0.95, 1, "driver, supported"),
        ("unsupported driver", driver & (state == "unsupported"), theme.UNSUPPORTED, 0.95, 1,
         "driver, unsupported"),
        ("driver, no eQTL", driver & (state == "unknown"), theme.UNKNOWN, 0.95, 1, "driver, no eQTL slope"),
    ]  # fmt: skip
    traces = []
    for name, mask, colour, opacity, line, kind in groups:
        if name == "driver, no eQTL" and not mask.any():
            continue  # only stores with missing eQTL slopes (the published one) need this group
        part = data.loc[mask]
        size = marker_size(part["maf"]) + (6 if line else 0)
        traces.append(
            {
                "type": "scattergl", "x": part[x].to_numpy(float) * scale_x, "y": part[y].to_numpy(float),
                "mode": "markers", "name": f"{name} ({len(part):,})",
                "marker": {"color": colour, "size": size, "opacity": opacity,
                           "line": {"width": line, "color": "#222"}},
                "hovertemplate": hover(chrom, kind), **point_data(part),
            }
        )  # fmt: skip
    return traces


def selected_trace(data: pd.DataFrame, snv: str | None, x: str, y: str, scale_x: float = 1.0) -> dict:
    row = data.loc[data["variant_id"] == snv] if snv else data.iloc[0:0]
    chrom = str(row["chrom"].iloc[0]) if len(row) else ""
    return {
        "type": "scatter", "x": row[x].to_numpy(float) * scale_x, "y": row[y].to_numpy(float),
        "mode": "markers", "name": "selected SNV", "showlegend": len(row) > 0,
        "marker": {"size": 22, "color": "rgba(0,0,0,0)", "line": {"color": theme.SELECTED, "width": 2.5}},
        "hovertemplate": hover(chrom, "selected"), **point_data(row),
    }  # fmt: skip


def clicked_snv(click: dict | None) -> str | None:
    """The SNV id of a click on any SNV view (the point's `text`), or None."""
    try:
        text = click["points"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) and text else None
