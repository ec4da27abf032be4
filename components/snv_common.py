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
HOVER = (
    "<b>%{customdata[0]}</b> (chr%{customdata[1]}:%{customdata[2]:,} %{customdata[3]}>%{customdata[4]})"
    "<br>%{customdata[5]:+,} bp from TSS, MAF %{customdata[6]:.3f}"
    "<br>ISM %{customdata[7]:+.4f}, eQTL slope %{customdata[8]:+.4f}"
    "<br>%{customdata[9]}<extra></extra>"
)


def snv_frame(variants: pd.DataFrame) -> pd.DataFrame:
    if variants.empty:
        return pd.DataFrame(columns=SNV_COLUMNS)
    return variants[SNV_COLUMNS].reset_index(drop=True)


def snv_class(data: pd.DataFrame) -> np.ndarray:
    driver = data["is_driver"].astype(bool).to_numpy()
    supported = data["supported"].astype(bool).to_numpy()
    main = data["is_main_driver"].astype(bool).to_numpy()
    label = np.where(supported, "supported driver", "unsupported driver")
    label = np.where(main, "main " + label, label)
    return np.where(driver, label, "not a driver")


def customdata(data: pd.DataFrame) -> np.ndarray:
    cols = ["variant_id", "chrom", "pos", "ref", "alt", "tss_distance", "maf", "ism", "eqtl_slope"]
    out = data[cols].astype(object).to_numpy()
    return np.column_stack([out, snv_class(data)])


def marker_size(maf: pd.Series, smallest: float = 4, largest: float = 16) -> np.ndarray:
    """MAF 0..0.5 mapped linearly onto a marker diameter in px."""
    m = np.clip(maf.to_numpy(float), 0, 0.5) / 0.5
    return smallest + (largest - smallest) * np.nan_to_num(m)


def snv_traces(data: pd.DataFrame, x: str, y: str, scale_x: float = 1.0) -> list[dict]:
    """Non-drivers in grey, supported and unsupported drivers in colour; SNV id in customdata."""
    driver = data["is_driver"].astype(bool)
    supported = data["supported"].astype(bool)
    groups = [
        ("other SNVs", ~driver, theme.BACKGROUND_SNV, 0.45, 0),
        ("supported driver", driver & supported, theme.SUPPORTED, 0.95, 1),
        ("unsupported driver", driver & ~supported, theme.UNSUPPORTED, 0.95, 1),
    ]
    traces = []
    for name, mask, colour, opacity, line in groups:
        part = data.loc[mask]
        size = marker_size(part["maf"]) + (6 if line else 0)
        traces.append(
            {
                "type": "scattergl", "x": part[x].to_numpy(float) * scale_x, "y": part[y].to_numpy(float),
                "mode": "markers", "name": f"{name} ({len(part):,})",
                "marker": {"color": colour, "size": size, "opacity": opacity,
                           "line": {"width": line, "color": "#222"}},
                "customdata": customdata(part), "hovertemplate": HOVER,
            }
        )  # fmt: skip
    return traces


def selected_trace(data: pd.DataFrame, snv: str | None, x: str, y: str, scale_x: float = 1.0) -> dict:
    row = data.loc[data["variant_id"] == snv] if snv else data.iloc[0:0]
    return {
        "type": "scatter", "x": row[x].to_numpy(float) * scale_x, "y": row[y].to_numpy(float),
        "mode": "markers", "name": "selected SNV", "showlegend": len(row) > 0,
        "marker": {"size": 22, "color": "rgba(0,0,0,0)", "line": {"color": theme.SELECTED, "width": 2.5}},
        "customdata": customdata(row), "hovertemplate": HOVER,
    }  # fmt: skip


def clicked_snv(click: dict | None) -> str | None:
    """The SNV id of a click on any SNV view, or None."""
    try:
        data = click["points"][0]["customdata"]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(data, list) and data and isinstance(data[0], str):
        return data[0]
    return None
