"""Sequence-logo figure: letters stacked to the ISM heights, motif bars over their sites."""

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.motif_logo import LETTER_COLOURS, letter_path, motif_logo_figure
from compute.store.ism_logo import ism_logo_matrix


def path_box(path: str) -> tuple[float, float, float, float]:
    numbers = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", path)]).reshape(-1, 2)
    return numbers[:, 0].min(), numbers[:, 0].max(), numbers[:, 1].min(), numbers[:, 1].max()


def test_letter_path_fills_its_box():
    """Each letter spans its box's full height and stays inside it (round letters to 1%)."""
    for letter in "ACGT":
        x0, x1, y0, y1 = path_box(letter_path(letter, 2.0, 3.0, -1.0, 0.5))
        assert 2.0 <= x0 <= 2.01 and 2.88 <= x1 <= 3.0
        assert np.isclose(y0, -1.0, atol=0.015) and np.isclose(y1, 0.5, atol=0.015)


def test_logo_letters_stack_to_the_heights():
    ism = np.array([[0.0, -1.0, -2.0, 0.5], [0.2, 0.0, 0.4, 1.0], [0.0, 0.0, 0.0, 0.0]])
    matrix = ism_logo_matrix(ism, positions=[-1, 0, 1])
    figure = motif_logo_figure(matrix)
    go.Figure(figure)  # valid plotly
    letters = [s for s in figure["layout"]["shapes"] if s["type"] == "path"]
    assert len(letters) == int((matrix.to_numpy() != 0).sum())  # the all-zero position draws nothing
    for position, row in matrix.iterrows():
        boxes = [path_box(s["path"]) for s in letters if np.rint(path_box(s["path"])[0] + 0.45) == position]
        assert len(boxes) == int((row != 0).sum())
        top = max([b[3] for b in boxes] + [0.0])
        bottom = min([b[2] for b in boxes] + [0.0])
        assert np.isclose(top, row.clip(lower=0).sum(), atol=0.015)
        assert np.isclose(bottom, row.clip(upper=0).sum(), atol=0.015)
    colours = {s["fillcolor"] for s in letters}
    assert colours <= set(LETTER_COLOURS.values())


def test_motif_bars_cover_their_sites():
    matrix = ism_logo_matrix(np.random.default_rng(0).normal(size=(21, 4)), positions=np.arange(-10, 11))
    motifs = pd.DataFrame(
        {
            "motif_name": ["SP1", "CTCF", "X"], "strand": ["+", "-", "+"],
            "effect": ["breaks", "creates", "changes"], "delta": [-6.8, 4.1, 0.5],
            "hit_offset": [-4, -10, 0], "motif_length": [9, 15, 5],
            "ref_p": [1e-6, 1e-3, 1e-5], "alt_p": [1e-3, 1e-5, 2e-5],
        }
    )  # fmt: skip
    figure = motif_logo_figure(matrix, motifs, max_motifs=2)
    go.Figure(figure)
    bars = [s for s in figure["layout"]["shapes"] if s["type"] == "rect"]
    assert len(bars) == 2  # the two smallest p-values: SP1 (1e-6) then CTCF (1e-5)
    assert np.isclose(bars[0]["x0"], -4.45) and np.isclose(bars[0]["x1"], -4 + 9 - 0.55)
    assert np.isclose(bars[1]["x0"], -10.45) and np.isclose(bars[1]["x1"], -10 + 15 - 0.55)
    labels = [a["text"] for a in figure["layout"]["annotations"]]
    assert labels[0].startswith("SP1 (+) breaks") and labels[1].startswith("CTCF (-) creates")
