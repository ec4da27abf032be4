"""Pieces the SNV views share: the plotted columns, hover text, marker sizes, traces by driver class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components import theme
from compute.stats.ld import R2_BINS, r2_bin

LD_COLUMN = "ld_r2"  # r² with the selected SNV, when the dataset has genotypes
LD_LABELS = [f"LD r² {lo:g}–{hi:g}" for lo, hi in zip(R2_BINS[:-1], R2_BINS[1:], strict=False)]
STRONG_LD = 0.8
LD_PREFIX = "ld|"  # card buttons of LD partners: ids apart from the driver buttons of the same SNV

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


def hover(chrom: str, kind: str, ld: bool = False) -> str:
    r2 = "<br>r² with the selected SNV %{customdata[5]:.3f}" if ld else ""
    return (
        f"<b>%{{text}}</b> (chr{chrom}:%{{customdata[0]:,}} %{{hovertext}})"
        "<br>%{customdata[1]:+,} bp from TSS, MAF %{customdata[2]:.3f}"
        f"<br>ISM %{{customdata[3]:+.4f}}, eQTL slope %{{customdata[4]:+.4f}}{r2}<br>{kind}<extra></extra>"
    )


def snv_frame(variants: pd.DataFrame, ld: pd.Series | None = None) -> pd.DataFrame:
    """The plotted columns of a gene's SNVs; with `ld` (r² by variant_id) also `ld_r2`."""
    if variants.empty:
        return pd.DataFrame(columns=SNV_COLUMNS)
    frame = variants[SNV_COLUMNS].reset_index(drop=True)
    if ld is not None:
        frame[LD_COLUMN] = frame["variant_id"].map(ld).astype(float)
    return frame


def has_ld(data: pd.DataFrame) -> bool:
    return LD_COLUMN in data.columns and bool(data[LD_COLUMN].notna().any())


def ld_note(snv: str, n_people: int) -> str:
    """What the LD colours are, said on every view that shows them."""
    return (
        f"Colour: LD (r² of genotype dosages) with {snv} among this dataset's {n_people:,} people, "
        "in LocusZoom's bins; the purple diamond is the LD reference. Click a SNV to make it the reference."
    )


def point_data(data: pd.DataFrame) -> dict:
    """text, hovertext and customdata of SNV points, in the order of `data`."""
    return {
        "text": data["variant_id"].to_numpy(object),
        "hovertext": (
            data["ref"].fillna("?").astype(str) + ">" + data["alt"].fillna("?").astype(str)
        ).to_numpy(object),
        "customdata": data[NUMBERS + ([LD_COLUMN] if LD_COLUMN in data.columns else [])].to_numpy(float),
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
    """Non-drivers in grey, supported and unsupported drivers in colour; SNV id as `text`.
    With r² to the selected SNV (`ld_r2`), SNVs are coloured by LD instead (`ld_traces`)."""
    if has_ld(data):
        return ld_traces(data, x, y, scale_x)
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


def ld_traces(data: pd.DataFrame, x: str, y: str, scale_x: float = 1.0) -> list[dict]:
    """LocusZoom's view: SNVs coloured by r² bin with the LD reference; drivers ringed in their
    support colour (green supported, orange unsupported) on top."""
    chrom = str(data["chrom"].iloc[0]) if len(data) else ""
    bins = r2_bin(data[LD_COLUMN].to_numpy(float))
    traces = []
    for b in range(len(LD_LABELS) - 1, -2, -1):  # legend from strong LD down
        part = data.loc[bins == b]
        if b == -1 and part.empty:
            continue
        name, colour = (
            (LD_LABELS[b], theme.LD_COLOURS[b]) if b >= 0 else ("no r² (monomorphic)", theme.LD_UNKNOWN)
        )
        trace = {
            "type": "scattergl", "x": part[x].to_numpy(float) * scale_x, "y": part[y].to_numpy(float),
            "mode": "markers", "name": f"{name} ({len(part):,})", "legendgroup": "ld",
            "marker": {"color": colour, "size": marker_size(part["maf"]), "opacity": 0.85,
                       "line": {"width": 0.5, "color": "#555"}},
            "hovertemplate": hover(chrom, name, ld=True), **point_data(part),
        }  # fmt: skip
        traces.append(trace)
    driver = flag(data["is_driver"])
    state = support(data["supported"])
    for name, colour, mask in (
        ("supported driver", theme.SUPPORTED, driver & (state == "supported")),
        ("unsupported driver", theme.UNSUPPORTED, driver & (state == "unsupported")),
        ("driver, no eQTL", theme.UNKNOWN, driver & (state == "unknown")),
    ):
        if not mask.any():
            continue
        part = data.loc[mask]
        traces.append(
            {
                "type": "scattergl", "x": part[x].to_numpy(float) * scale_x, "y": part[y].to_numpy(float),
                "mode": "markers", "name": f"{name} ({len(part):,})", "legendgroup": "drivers",
                "marker": {"color": "rgba(0,0,0,0)", "size": marker_size(part["maf"]) + 8,
                           "line": {"width": 2.5, "color": colour}},
                "hovertemplate": hover(chrom, name, ld=True), **point_data(part),
            }
        )  # fmt: skip
    return traces


def selected_trace(data: pd.DataFrame, snv: str | None, x: str, y: str, scale_x: float = 1.0) -> dict:
    row = data.loc[data["variant_id"] == snv] if snv else data.iloc[0:0]
    chrom = str(row["chrom"].iloc[0]) if len(row) else ""
    if has_ld(data):  # LocusZoom marks the LD reference with a purple diamond
        return {
            "type": "scatter", "x": row[x].to_numpy(float) * scale_x, "y": row[y].to_numpy(float),
            "mode": "markers", "name": "LD reference: the selected SNV", "showlegend": len(row) > 0,
            "marker": {"symbol": "diamond", "size": 16, "color": theme.LD_REFERENCE,
                       "line": {"color": "#222", "width": 1.5}},
            "hovertemplate": hover(chrom, "selected: LD reference", ld=True), **point_data(row),
        }  # fmt: skip
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
