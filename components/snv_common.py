"""Pieces the SNV views share: the plotted columns, hover text, marker sizes, traces by driver class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components import theme
from components.data import Datasets
from components.selection import Selection
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
# Per point the browser gets the SNV id as `text` (a click reads it), its position and alleles
# as `hovertext`, and as `customdata` the hover numbers below that the axes do not carry already
# (the hover reads those as %{x} and %{y}): float32, sent as a typed array (components/theme.py),
# for a gene has ~3,000 SNVs and two views show them all.
NUMBERS = ["tss_distance", "maf", "ism", "eqtl_slope"]
FORMATS = {"tss_distance": ":+,", "maf": ":.3f", "ism": ":+.4f", "eqtl_slope": ":+.4f", LD_COLUMN: ":.3f"}


def hover_fields(has_ld_column: bool, x: str, y: str, scale_x: float = 1.0) -> tuple[list, dict[str, str]]:
    """The columns of customdata, and the hovertemplate field of each hover number."""
    columns, fields = [], {}
    for column in NUMBERS + ([LD_COLUMN] if has_ld_column else []):
        if column == y:
            fields[column] = f"%{{y{FORMATS[column]}}}"
        elif column == x and scale_x == 1.0:
            fields[column] = f"%{{x{FORMATS[column]}}}"
        else:
            fields[column] = f"%{{customdata[{len(columns)}]{FORMATS[column]}}}"
            columns.append(column)
    return columns, fields


def hover(fields: dict[str, str], kind: str, ld: bool = False) -> str:
    r2 = f"<br>r² with the selected SNV {fields[LD_COLUMN]}" if ld else ""
    return (
        f"<b>%{{text}}</b> (%{{hovertext}})<br>{fields['tss_distance']} bp from TSS, MAF {fields['maf']}"
        f"<br>ISM {fields['ism']}, eQTL slope {fields['eqtl_slope']}{r2}<br>{kind}<extra></extra>"
    )


def snv_frame(variants: pd.DataFrame, ld: pd.Series | None = None) -> pd.DataFrame:
    """The plotted columns of a gene's SNVs; with `ld` (r² by variant_id) also `ld_r2`."""
    if variants.empty:
        return pd.DataFrame(columns=SNV_COLUMNS)
    frame = variants[SNV_COLUMNS].reset_index(drop=True)
    if ld is not None:
        frame[LD_COLUMN] = aligned(ld, frame["variant_id"].to_numpy(object))
    return frame


def aligned(ld: pd.Series, ids: np.ndarray) -> np.ndarray:
    """r² (by variant_id) in the order of `ids` (NaN for an id it lacks)."""
    same_order = len(ld) == len(ids) and bool((ld.index.to_numpy(object) == ids).all())
    # the stored genotypes list the window's SNVs in the variants table's order: no join then
    return ld.to_numpy(float) if same_order else pd.Series(ids).map(ld).to_numpy(float)


def chrom_label(chrom) -> str:
    """'chr22' whether a store names the chromosome '22' or 'chr22' (it keeps the VCF's names)."""
    chrom = str(chrom)
    return chrom if chrom.lower().startswith("chr") else f"chr{chrom}"


class GeneSnvs:
    """A gene's SNVs as the numpy arrays the SNV views, the card and the histograms draw from: ids,
    hover text, numbers, marker sizes, driver flags and support. Made once per gene in a process
    (`gene_snv_arrays`) and read-only: what the selected SNV changes (LD) is `SnvTable`'s."""

    def __init__(self, variants: pd.DataFrame):
        frame = variants if not variants.empty else pd.DataFrame(columns=SNV_COLUMNS)
        self.ids = frame["variant_id"].to_numpy(object)
        chrom, ref, alt = (frame[c].to_numpy(object, na_value="?") for c in ("chrom", "ref", "alt"))
        labels = {c: chrom_label(c) for c in set(chrom.tolist())}  # one chromosome a gene, in practice
        where = zip(chrom.tolist(), frame["pos"].tolist(), ref.tolist(), alt.tolist(), strict=True)
        self.hovertext = np.array([f"{labels[c]}:{p:,} {r}>{a}" for c, p, r, a in where], dtype=object)
        self.numbers = {c: frame[c].to_numpy(float) for c in NUMBERS}  # axes and hover
        self.size = marker_size(frame["maf"])
        self.driver = flag(frame["is_driver"])
        self.state = support(frame["supported"])
        self.main = flag(frame["is_main_driver"])
        self.gain = frame["driver_gain"].to_numpy(float)

    def __len__(self) -> int:
        return len(self.ids)


class SnvTable:
    """A gene's plotted SNVs for one selected SNV: the gene's arrays (`GeneSnvs`) and, where the
    dataset has genotypes, r² with the selected SNV and its LD bins; shared by the SNV views (each
    takes its own x and y)."""

    def __init__(self, snvs: GeneSnvs, ld: np.ndarray | None = None):
        self.ids, self.hovertext, self.size = snvs.ids, snvs.hovertext, snvs.size
        self.driver, self.state = snvs.driver, snvs.state
        self.numbers = snvs.numbers if ld is None else {**snvs.numbers, LD_COLUMN: np.asarray(ld, float)}
        ld = self.numbers.get(LD_COLUMN)
        self.has_ld = ld is not None and bool(np.isfinite(ld).any())
        self.bins = r2_bin(ld) if self.has_ld else None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SnvTable:
        """The table of `snv_frame`'s columns (with `ld_r2` where it has them)."""
        ld = frame[LD_COLUMN].to_numpy(float) if LD_COLUMN in frame.columns else None
        return cls(GeneSnvs(frame), ld)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> np.ndarray:
        return self.numbers[name]


def gene_frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    """The plotted SNVs of the selected gene, with r² to the selected SNV where the dataset has
    genotypes (what the SNV views export)."""
    if sel.gene_id is None:
        return snv_frame(pd.DataFrame())
    ld = datasets.ld(sel.dataset, sel.gene_id, sel.snv) if sel.snv else None
    return snv_frame(datasets.gene(sel.dataset, sel.gene_id).variants, ld)


def gene_snv_arrays(datasets: Datasets, dataset: str, gene_id: str) -> GeneSnvs:
    """`GeneSnvs` of a gene, made once per gene in a process (the SNV views, the card and the
    histograms share it; read-only)."""
    return datasets.cached(
        dataset,
        ("snv-arrays", gene_id),
        lambda: GeneSnvs(datasets.gene(dataset, gene_id).variants),
        disk=False,
    )


def gene_snvs(datasets: Datasets, sel: Selection) -> SnvTable:
    """`SnvTable` of the selected gene and SNV; made once per gene and SNV in a process (the ISM vs
    eQTL and locus views share it; read-only)."""
    if sel.gene_id is None:
        return SnvTable(GeneSnvs(pd.DataFrame()))

    def make() -> SnvTable:
        snvs = gene_snv_arrays(datasets, sel.dataset, sel.gene_id)
        ld = datasets.ld(sel.dataset, sel.gene_id, sel.snv) if sel.snv else None
        return SnvTable(snvs, None if ld is None else aligned(ld, snvs.ids))

    return datasets.cached(sel.dataset, ("snv-table", sel.gene_id, sel.snv), make, disk=False)


def ld_note(snv: str, n_people: int) -> str:
    """What the LD colours are, said on every view that shows them."""
    return (
        f"Colour: LD (r² of genotype dosages) with {snv} among this dataset's {n_people:,} people, "
        "in LocusZoom's bins; the purple diamond is the LD reference. Click a SNV to make it the reference."
    )


class Points:
    """One view's per-point arrays of a gene's SNVs (x, y, sizes, text, hover text, customdata);
    `take(mask)` gives those of a group of points (numpy indexing, not a selection per trace)."""

    def __init__(self, table: SnvTable, x: str, y: str, scale_x: float = 1.0):
        self.table = table
        columns, self.fields = hover_fields(LD_COLUMN in table.numbers, x, y, scale_x)
        self.x, self.y = table.column(x) * scale_x, table.column(y)
        numbers = [table.numbers[c].astype(np.float32) for c in columns]
        self.point = {
            "text": table.ids,
            "hovertext": table.hovertext,
            "customdata": np.column_stack(numbers) if numbers else np.zeros((len(table), 0), np.float32),
        }

    def take(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        return self.x[mask], self.y[mask], self.table.size[mask], {k: v[mask] for k, v in self.point.items()}

    def hover(self, kind: str, ld: bool = False) -> str:
        return hover(self.fields, kind, ld)


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


def snv_traces(points: Points) -> list[dict]:
    """Non-drivers in grey, supported and unsupported drivers in colour; SNV id as `text`.
    With r² to the selected SNV, SNVs are coloured by LD instead (`ld_traces`)."""
    table = points.table
    if table.has_ld:
        return ld_traces(points)
    driver, state = table.driver, table.state
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
        px, py, size, point = points.take(mask)
        traces.append(
            {
                "type": "scattergl", "x": px, "y": py, "mode": "markers", "name": f"{name} ({mask.sum():,})",
                "marker": {"color": colour, "size": size + (6 if line else 0), "opacity": opacity,
                           "line": {"width": line, "color": "#222"}},
                "hovertemplate": points.hover(kind), **point,
            }
        )  # fmt: skip
    return traces


def ld_traces(points: Points) -> list[dict]:
    """LocusZoom's view: SNVs coloured by r² bin with the LD reference; drivers ringed in their
    support colour (green supported, orange unsupported) on top."""
    table = points.table
    traces = []
    for b in range(len(LD_LABELS) - 1, -2, -1):  # legend from strong LD down
        mask = table.bins == b
        if b == -1 and not mask.any():
            continue
        name, colour = (
            (LD_LABELS[b], theme.LD_COLOURS[b]) if b >= 0 else ("no r² (monomorphic)", theme.LD_UNKNOWN)
        )
        px, py, size, point = points.take(mask)
        traces.append(
            {
                "type": "scattergl", "x": px, "y": py, "mode": "markers", "name": f"{name} ({mask.sum():,})",
                "legendgroup": "ld",
                "marker": {"color": colour, "size": size, "opacity": 0.85,
                           "line": {"width": 0.5, "color": "#555"}},
                "hovertemplate": points.hover(name, ld=True), **point,
            }
        )  # fmt: skip
    driver, state = table.driver, table.state
    for name, colour, mask in (
        ("supported driver", theme.SUPPORTED, driver & (state == "supported")),
        ("unsupported driver", theme.UNSUPPORTED, driver & (state == "unsupported")),
        ("driver, no eQTL", theme.UNKNOWN, driver & (state == "unknown")),
    ):
        if not mask.any():
            continue
        px, py, size, point = points.take(mask)
        traces.append(
            {
                "type": "scattergl", "x": px, "y": py, "mode": "markers", "name": f"{name} ({mask.sum():,})",
                "legendgroup": "drivers",
                "marker": {"color": "rgba(0,0,0,0)", "size": size + 8,
                           "line": {"width": 2.5, "color": colour}},
                "hovertemplate": points.hover(name, ld=True), **point,
            }
        )  # fmt: skip
    return traces


def selected_trace(points: Points, snv: str | None) -> dict:
    mask = points.table.ids == snv if snv else np.zeros(len(points.table), bool)
    px, py, _, point = points.take(mask)
    shown = bool(mask.any())
    if points.table.has_ld:  # LocusZoom marks the LD reference with a purple diamond
        return {
            "type": "scatter", "x": px, "y": py, "mode": "markers", "name": "LD reference: the selected SNV",
            "showlegend": shown,
            "marker": {"symbol": "diamond", "size": 16, "color": theme.LD_REFERENCE,
                       "line": {"color": "#222", "width": 1.5}},
            "hovertemplate": points.hover("selected: LD reference", ld=True), **point,
        }  # fmt: skip
    return {
        "type": "scatter", "x": px, "y": py, "mode": "markers", "name": "selected SNV",
        "showlegend": shown,
        "marker": {"size": 22, "color": "rgba(0,0,0,0)", "line": {"color": theme.SELECTED, "width": 2.5}},
        "hovertemplate": points.hover("selected"), **point,
    }  # fmt: skip


def clicked_snv(click: dict | None) -> str | None:
    """The SNV id of a click on any SNV view (the point's `text`), or None."""
    try:
        text = click["points"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) and text else None
