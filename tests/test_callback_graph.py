"""The dashboard's callback graph as Dash serves it (`/_dash-dependencies`): no cycle, so every page
renders in the order Dash's rules define (a cycle shows Dash's "Circular Dependencies" error under
--debug, and leaves the order of a first visit undefined)."""

from __future__ import annotations

import json

import pytest

from benchmarks.synthetic_store import make_synthetic_store


def _props(spec: str) -> list[str]:
    """'a.b' or '..a.b...c.d..' (several outputs) -> ['a.b', 'c.d'], without @hash suffixes of
    allow_duplicate outputs."""
    spec = spec.strip(".")
    parts = spec.split("...") if "..." in spec else [spec]
    return [p.split("@")[0] for p in parts]


def _prop(item: dict) -> str:
    ident = item["id"]
    if ident.startswith("{"):  # a pattern-matching id: one node for every id of that type
        ident = json.dumps({k: v for k, v in json.loads(ident).items() if k != "index"}, sort_keys=True)
    return f"{ident}.{item['property']}"


def callback_graph(dependencies: list[dict]) -> dict[str, set[str]]:
    """Input property -> the output properties its callbacks write. A callback that writes its own
    input (the search box clearing itself) is no cycle for Dash, so no edge here either."""
    graph: dict[str, set[str]] = {}
    for callback in dependencies:
        outputs = set(_props(callback["output"]))
        for item in callback["inputs"]:
            node = _prop(item)
            graph.setdefault(node, set()).update(outputs - {node})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_and_passes_a_chain():
    cycle = [
        {"output": "b.data", "inputs": [{"id": "a", "property": "data"}]},
        {"output": "..c.data...d.data..", "inputs": [{"id": "b", "property": "data"}]},
        {"output": "a.data@1f2e", "inputs": [{"id": "d", "property": "data"}]},
    ]
    assert find_cycle(callback_graph(cycle)) == ["a.data", "b.data", "d.data", "a.data"]
    assert find_cycle(callback_graph(cycle[:2])) is None
    clears_itself = [{"output": "..s.value...u.href..", "inputs": [{"id": "s", "property": "value"}]}]
    assert find_cycle(callback_graph(clears_itself)) is None


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "full"
    make_synthetic_store(path, n_genes=10, n_people=20, n_snvs=30, seed=3, with_genotypes=True)
    return path


@pytest.fixture
def app(store):
    """A new app each test: Flask takes no setup (dev tools) once it has served a request."""
    from app import create_app
    from components import jobs

    return create_app([store], compute=jobs.ComputeSettings(board=None))


def test_no_callback_cycle(app):
    response = app.server.test_client().get("/_dash-dependencies")
    assert response.status_code == 200
    dependencies = response.get_json()
    assert len(dependencies) > 20  # every view registered its callbacks
    graph = callback_graph(dependencies)
    assert "jobs-version.data" in graph and "url.pathname" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.slow
@pytest.mark.browser
def test_a_page_under_debug_shows_no_dash_error(app):
    """Dash's dev tools (`python app.py --debug`) list every front-end error, a callback cycle first."""
    from pathlib import Path

    from docs.screenshots import chromium, serve, wait_for_figures

    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing: run `bash scripts/setup.sh --test`")
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
    with serve(app) as url, chromium() as driver:
        for page in ("/", "/gene/DDX11"):
            driver.get(url + page)
            wait_for_figures(driver)
            assert driver.find_elements("css selector", ".dash-debug-menu, .dash-debug-menu__outer"), (
                "no dev tools on the page: is debug on?"
            )
            errors = driver.execute_script(
                "return [...document.querySelectorAll('.dash-fe-error__title, .dash-fe-error-top')]"
                ".map(e => e.innerText)"
            )
            assert errors == [], errors
            assert "Circular Dependencies" not in driver.page_source
