"""What a gene switch sends: the TSS histograms a Patch of the selected gene's triangles only, the
SNV views their points as typed arrays (the same numbers as the figure, in fewer bytes), and the
callbacks that have nothing new `no_update`."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest
from dash import no_update
from plotly.io.json import to_json_plotly

from benchmarks.synthetic_store import make_synthetic_store
from components import ism_eqtl, theme, tss_hist
from components.data import Datasets
from components.selection import parse_url


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("switch")
    make_synthetic_store(base / "full", n_genes=30, n_people=50, n_snvs=300, seed=8, with_genotypes=True)
    return Datasets([base / "full"])


def test_tss_histograms_patch_only_the_selected_genes_triangles(datasets):
    first, second = (parse_url(datasets, f"/gene/{g}", "") for g in ("DDX11", "GSTM3"))
    figure, note, shown = tss_hist.update(datasets, first, "all", None)
    assert isinstance(figure, dict) and note and shown == tss_hist.shown_key(datasets, "full", "all")
    patch, note2, shown2 = tss_hist.update(datasets, second, "all", shown)
    assert note2 is no_update and shown2 == shown
    ops = patch.to_plotly_json()["operations"]
    bars = [k for k, trace in enumerate(figure["data"]) if trace["type"] == "bar"]
    assert sorted(op["location"][1] for op in ops) == [k for k in range(len(figure["data"])) if k not in bars]
    full, _ = tss_hist.render(datasets, second, "all")  # what a full figure of the new gene holds there
    for op in ops:
        sent, expected = op["params"]["value"], full["data"][op["location"][1]]
        assert sent["name"] == expected["name"]
        np.testing.assert_allclose(decoded(sent["x"]), expected["x"], rtol=1e-6)
    assert len(to_json_plotly(patch)) < len(to_json_plotly(theme.typed_arrays(full))) / 2  # no bars


def decoded(value) -> np.ndarray:
    """The numbers of a plotly.js typed array spec (or of a plain list)."""
    if not isinstance(value, dict):
        return np.asarray(value, float)
    data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
    if "shape" in value:
        data = data.reshape([int(n) for n in value["shape"].split(",")])
    return data.astype(float)


def test_snv_points_travel_as_typed_arrays_with_the_same_numbers(datasets):
    sel = parse_url(datasets, "/gene/DDX11", "")
    figure, _ = ism_eqtl.render(datasets, sel)
    sent = json.loads(to_json_plotly(theme.typed_arrays(figure)))
    for trace, original in zip(sent["data"], figure["data"], strict=True):
        for key, was in (("x", original["x"]), ("y", original["y"]), ("customdata", original["customdata"]),
                         ("size", original["marker"]["size"])):  # fmt: skip
            got = decoded(trace["marker"]["size"] if key == "size" else trace[key])
            np.testing.assert_allclose(got.reshape(np.shape(was)), was, rtol=1e-6)
        assert trace["text"] == list(original["text"])  # a click reads the SNV id from `text`
    assert len(to_json_plotly(theme.typed_arrays(figure))) < 0.7 * len(to_json_plotly(figure))
    # the hover reads the plotted numbers from x and y and the others from customdata, by column
    first = figure["data"][0]
    assert "%{x:+.4f}" in first["hovertemplate"] and "%{y:+.4f}" in first["hovertemplate"]
    assert first["customdata"].shape[1] == first["hovertemplate"].count("%{customdata[")


def test_callbacks_with_nothing_new_leave_their_output_alone(datasets):
    """Dash leaves out of its answer the outputs a callback returned no_update for."""
    from app import create_app
    from benchmarks.bench_load import outputs_of

    app = create_app([datasets.store("full").path])
    http = app.server.test_client()
    dataset = parse_url(app.datasets, "/gene/DDX11", "").dataset
    key = "..filter-subset.options...filter-count.children.."

    def answer(current):
        body = {"output": key, "outputs": outputs_of(key), "changedPropIds": ["app-dataset.data"],
                "inputs": [{"id": "app-dataset", "property": "data", "value": dataset},
                           {"id": "filter-subset", "property": "value", "value": "all"},
                           {"id": "jobs-version", "property": "data", "value": None}],
                "state": [{"id": "filter-subset", "property": "options", "value": current}]}  # fmt: skip
        response = http.post("/_dash-update-component", json=body)
        assert response.status_code == 200
        return json.loads(response.data)["response"]

    first = answer(None)
    assert "filter-subset" in first and "filter-count" in first
    again = answer(first["filter-subset"]["options"])
    assert "filter-subset" not in again and "filter-count" in again


def test_a_gene_switch_leaves_the_views_of_the_dataset_alone(datasets, tmp_path):
    """The URL callback sets `app-dataset` only when the dataset changes, so the filter bar and
    the compute strip (inputs: `app-dataset`) are not asked for anything on a gene switch."""
    from app import create_app
    from benchmarks.bench_load import outputs_of, url_callback

    shutil.copytree(datasets.store("full").path, tmp_path / "other")
    app = create_app([datasets.store("full").path, tmp_path / "other"])
    http = app.server.test_client()
    callbacks = {d["output"]: d for d in json.loads(http.get("/_dash-dependencies").data)}
    key = url_callback(callbacks)
    followers = [k for k, c in callbacks.items() if {"id": "app-dataset", "property": "data"} in c["inputs"]]
    assert any("filter-subset" in k for k in followers) and any("jobs-version" in k for k in followers)

    def answer(path, dataset, current):
        values = {"url.pathname": path, "url.search": f"?dataset={dataset}", "jobs-version.data": None,
                  "app-selection.data": None, "app-dataset.data": current}  # fmt: skip
        def filled(specs: list[dict]) -> list[dict]:
            return [{**i, "value": values[f"{i['id']}.{i['property']}"]} for i in specs]

        body = {"output": key, "outputs": outputs_of(key), "changedPropIds": ["url.pathname"],
                "inputs": filled(callbacks[key]["inputs"]), "state": filled(callbacks[key]["state"])}
        response = http.post("/_dash-update-component", json=body)
        assert response.status_code == 200
        return json.loads(response.data)["response"]

    assert answer("/gene/DDX11", "full", None)["app-dataset"]["data"] == "full"
    switched = answer("/gene/GSTM3", "full", "full")
    assert "app-dataset" not in switched and switched["app-selection"]["data"]["gene_id"]
    assert answer("/gene/DDX11", "other", "full")["app-dataset"]["data"] == "other"
