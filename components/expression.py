"""Predicted vs observed expression across people for the selected gene.

Coloured by each person's dosage of the selected SNV when the store has
genotypes; otherwise by the difference of the two haplotype scores (hap1 -
hap2), which shows where the two copies of the gene differ. When the model was
fine-tuned on some of these people, the marker says which: training people are
small circles, the people that chose the epoch squares, held-out people diamonds,
and the r shown is the held-out people's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Dash, html

from components import theme
from components.data import OBSERVED_RAW, Datasets
from components.export import SelectionPanel, register_exports
from components.selection import Selection

VIEW = "expression"
PREDICTED_LABEL = "predicted expression: {model} score (a.u.)"
NO_PEOPLE = "This dataset has no per-person predictions."
SPLIT_MARKERS = {  # split -> (symbol, size, opacity, legend label)
    "training": ("circle", 5, 0.45, "training people (model fit on them)"),
    "validation": ("square", 7, 0.85, "validation people (chose the epoch)"),
    "test": ("diamond", 9, 0.95, "held-out people (never seen)"),
}


def layout() -> html.Section:
    return theme.figure_panel(
        VIEW,
        "Predicted vs observed, across people",
        description="Each point is a person: the model's score (mean of both haplotypes) "
        "against measured expression.",
    )


def frame(datasets: Datasets, sel: Selection) -> pd.DataFrame:
    if sel.gene_id is None or not datasets.has_people(sel.dataset):
        return pd.DataFrame(columns=["person_id", "hap1", "hap2", "predicted", "observed"])
    people = datasets.gene(sel.dataset, sel.gene_id).people
    columns = {c: people[c].array for c in ("person_id", "hap1", "hap2", "predicted", "observed")}
    columns["hap_difference"] = people["hap1"].to_numpy(float) - people["hap2"].to_numpy(float)
    dosage = datasets.people_dosage(sel.dataset, sel.gene_id, sel.snv) if sel.snv else None
    if dosage is not None and len(dosage):  # missing where a person has no genotypes
        columns["dosage"] = pd.arrays.IntegerArray(np.maximum(dosage, 0).astype(np.int8), dosage < 0)
    out = pd.DataFrame(columns)
    split = datasets.people_split(sel.dataset)
    if split is not None:
        out["split"] = out["person_id"].map(split).fillna("training")
    return out


class GenePeople:
    """A gene's people as the arrays the scatter draws (ids, predicted, observed, both haplotypes,
    the model's split of them where it was fine-tuned): made once per gene in a process
    (`gene_people`), so a new SNV only adds its dosages."""

    def __init__(self, people: pd.DataFrame, split: dict[str, str] | None = None):
        self.ids = people["person_id"].to_numpy(object)
        self.predicted = people["predicted"].to_numpy(float)
        self.observed = people["observed"].to_numpy(float)
        self.haps = np.column_stack([people["hap1"].to_numpy(float), people["hap2"].to_numpy(float)])
        self.split = None
        if split is not None:
            self.split = np.array([split.get(p, "training") for p in self.ids.tolist()], dtype=object)

    @classmethod
    def from_frame(cls, data: pd.DataFrame) -> GenePeople:
        """The arrays of `frame`'s columns (its split column where it has one)."""
        people = cls(data)
        if "split" in data.columns:
            people.split = data["split"].to_numpy(object)
        return people

    def __len__(self) -> int:
        return len(self.ids)


def gene_people(datasets: Datasets, sel: Selection) -> GenePeople:
    def make() -> GenePeople:
        return GenePeople(datasets.gene(sel.dataset, sel.gene_id).people, datasets.people_split(sel.dataset))

    return datasets.cached(sel.dataset, (VIEW, "people", sel.gene_id), make, disk=False)


def _marker(split: np.ndarray | None, colour) -> dict:
    """Marker of a group of people; by split (symbol, size, opacity) when the data has one."""
    if split is None:
        return {"color": colour, "size": 6, "opacity": 0.8}
    style = [SPLIT_MARKERS[s] for s in split]
    return {
        "color": colour, "symbol": [s[0] for s in style], "size": [s[1] for s in style],
        "opacity": 0.85, "line": {"width": 0.5, "color": "#333"},
    }  # fmt: skip


def split_legend(split: np.ndarray | None) -> list[dict]:
    """Legend entries for the marker shapes (traces without points)."""
    if split is None:
        return []
    counts = dict(zip(*np.unique(split.astype(str), return_counts=True), strict=True))
    return [
        {
            "type": "scatter", "x": [None], "y": [None], "mode": "markers", "legendgroup": "split",
            "name": f"{label} ({counts[name]:,})", "hoverinfo": "skip",
            "marker": {"symbol": symbol, "size": 9, "color": "#777", "line": {"width": 0.5, "color": "#333"}},
        }
        for name, (symbol, _, _, label) in SPLIT_MARKERS.items()
        if counts.get(name, 0)
    ]  # fmt: skip


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """r over the people with both values (a person without observed expression is left out)."""
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def figure(
    data: pd.DataFrame, gene_name: str, snv: str | None, revision: str = "",
    observed_label: str = OBSERVED_RAW, model: str = "Enformer",
) -> dict:
    """The scatter of `frame`'s rows (coloured by their dosage column where it has one)."""
    dosage = data["dosage"].to_numpy(float, na_value=np.nan) if "dosage" in data.columns else None
    return people_figure(GenePeople.from_frame(data), dosage, gene_name, snv, revision, observed_label, model)


def people_figure(
    people: GenePeople, dosage: np.ndarray | None, gene_name: str, snv: str | None, revision: str = "",
    observed_label: str = OBSERVED_RAW, model: str = "Enformer",
) -> dict:
    """The scatter of a gene's people, coloured by `dosage` of the selected SNV (float, NaN for a
    person without genotypes), or without it by the difference of the two haplotype scores."""
    hover = (
        "<b>%{text}</b><br>predicted %{x:.3f}<br>observed %{y:.3f}"
        "<br>hap1 %{customdata[0]:.3f}, hap2 %{customdata[1]:.3f}"
    )
    # numpy masks over the people's arrays: a gene has ~800 people and three groups
    x, y, haps, split = people.predicted, people.observed, people.haps, people.split
    ids = people.ids
    observed = np.isfinite(y)  # people without observed expression (NA in the input) are not drawn
    n = int(observed.sum())
    traces = []
    if dosage is not None:
        for g in (0, 1, 2):
            mask = (dosage == g) & observed
            traces.append(
                {
                    "type": "scattergl", "x": x[mask], "y": y[mask], "mode": "markers",
                    "name": f"{g} ALT ({int(mask.sum())})",
                    "marker": _marker(None if split is None else split[mask], theme.DOSAGE[g]),
                    "text": ids[mask], "customdata": haps[mask],
                    "hovertemplate": hover + f"<br>{snv}: {g} ALT<extra></extra>",
                }
            )  # fmt: skip
    else:
        keep = observed if n < len(y) else slice(None)
        difference = (haps[:, 0] - haps[:, 1])[keep]
        limit = float(np.nanmax(np.abs(difference))) if len(difference) else 0.0
        limit = limit if np.isfinite(limit) and limit > 0 else 1.0
        traces.append(
            {
                "type": "scattergl", "x": x[keep], "y": y[keep], "mode": "markers", "name": "people",
                "showlegend": False,
                "marker": {
                    **_marker(None if split is None else split[keep], difference), "colorscale": "PuOr",
                    "cmin": -limit, "cmax": limit,
                    "colorbar": {"title": {"text": "hap1 − hap2", "side": "right"}, "thickness": 12},
                },
                "text": ids[keep], "customdata": haps[keep], "hovertemplate": hover + "<extra></extra>",
            }
        )  # fmt: skip
    traces += split_legend(split)
    r = pearson(x, y)
    if np.isfinite(r):
        slope, intercept = np.polyfit(x[observed], y[observed], 1)
        xs = np.array([x[observed].min(), x[observed].max()])
        traces.append(
            {
                "type": "scatter", "x": xs, "y": intercept + slope * xs, "mode": "lines",
                "name": "least squares", "showlegend": False, "hoverinfo": "skip",
                "line": {"color": "#444", "dash": "dash", "width": 1.5},
            }
        )  # fmt: skip
    text = f"<b>{gene_name}</b>  r = {r:.3f}, n = {n:,}"
    if split is not None:  # the fit that is a test first; the all-people r includes training
        test = split == "test"
        r_test = pearson(x[test], y[test])
        text = (
            f"<b>{gene_name}</b>  held-out r = {r_test:.3f}, n = {int((test & observed).sum()):,}"
            f"<br>all people r = {r:.3f}, n = {n:,}"
        )
    if n < len(people):
        text += f"<br>{len(people) - n:,} without observed expression (not shown)"
    label = theme.note(text, 0.01, 0.99, bgcolor="rgba(255,255,255,0.8)")
    return {
        "data": traces,
        "layout": theme.layout(
            revision=revision, annotations=[label],
            xaxis=theme.axis(PREDICTED_LABEL.format(model=model)), yaxis=theme.axis(observed_label),
        ),
    }  # fmt: skip


def render(datasets: Datasets, sel: Selection) -> tuple[dict, str]:
    if sel.gene_id is None:
        return theme.message_figure("Pick a gene to see its people."), ""
    if not datasets.has_people(sel.dataset):
        return theme.message_figure(NO_PEOPLE), NO_PEOPLE
    people = gene_people(datasets, sel)
    if not len(people):
        return theme.message_figure("No per-person rows for this gene."), ""
    gene_name = str(datasets.gene(sel.dataset, sel.gene_id).gene["gene_name"])
    dosage = datasets.people_dosage(sel.dataset, sel.gene_id, sel.snv) if sel.snv else None
    if dosage is not None and len(dosage):  # NaN where a person has no genotypes
        dosage = np.where(dosage >= 0, dosage, np.nan)
        note = f"Coloured by dosage of {sel.snv} (ALT alleles)."
    else:
        note = (
            "Per-person genotypes are not in this store, so points are coloured by the difference "
            "of the two haplotype scores (hap1 − hap2) instead of the selected SNV's genotype."
        )
        dosage = None
    if people.split is not None:
        note += (
            " The model was fine-tuned on some of these people: diamonds are held-out people, and the "
            "held-out r is the one to quote."
        )
    observed = datasets.observed_label(sel.dataset)
    model = datasets.model_name(sel.dataset)
    return people_figure(people, dosage, gene_name, sel.snv, sel.gene_id, observed, model), note


PANEL = SelectionPanel(VIEW, render)  # drawn with its group (components/__init__.py)


def register(app: Dash, datasets: Datasets) -> None:
    register_exports(app, datasets, VIEW, frame)
