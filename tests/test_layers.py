"""compute/ reads like the product: each part imports only the parts below it, no module imports
itself through a cycle, and neither compute/stats/ nor anything the dashboard imports pulls in torch.

Every import counts: top-level, inside functions (a lazy import is still a dependency) and under
`if TYPE_CHECKING:`. The layers, lowest first, are also written down in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [  # lowest first; a module may import its own layer and the layers below
    ["compute", "compute.errors"],
    ["compute.stats"],
    ["compute.cohort"],
    ["compute.store"],
    ["compute.jobs"],  # the dashboard's job records: read by the page, run by compute.run.jobs
    ["compute.engine"],
    ["compute.run"],
    ["compute.analyses"],
    ["compute.demo"],
    ["compute.cli", "compute.__main__"],
]
TORCH_FREE = ["compute.stats"]  # and everything the dashboard imports


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names; `from a import b` counts a.b when b is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph(paths) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in paths}
    return {name: {m for m in imports_of(p) if m in modules and m != name} for name, p in modules.items()}


def compute_graph() -> dict[str, set[str]]:
    return graph((ROOT / "compute").rglob("*.py"))


def layer_of(module: str) -> int:
    best, index = -1, None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    assert index is not None, f"{module} is in no layer"
    return index


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def closure(edges: dict[str, set[str]], start: set[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
            parent = node.rpartition(".")[0]  # importing a.b runs a/__init__.py first
            if parent:
                todo.append(parent)
    return seen


def test_no_import_cycle_in_compute():
    assert find_cycle(compute_graph()) is None, find_cycle(compute_graph())


def test_every_import_goes_down_the_layers():
    upward = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in compute_graph().items()
        for b in targets
        if layer_of(b) > layer_of(a)
    ]
    assert upward == []


def _imports_torch(module: str, edges) -> bool:
    path = next(p for p in (ROOT / "compute").rglob("*.py") if module_name(p) == module)
    return any(m == "torch" or m.startswith("torch.") for m in imports_of(path))


def test_stats_and_the_dashboard_import_no_torch():
    edges = compute_graph()
    web = set()
    for path in [ROOT / "app.py", *(ROOT / "components").glob("*.py")]:
        web |= {m for m in imports_of(path) if m in edges}
    reached = closure(edges, web | {m for m in edges if layer_of(m) == layer_of("compute.stats")})
    with_torch = sorted(m for m in reached if _imports_torch(m, edges))
    assert with_torch == []
    assert "compute.store" in reached and "compute.engine.model" not in reached
    # the dashboard reads stores: nothing of the engine, runs or analyses
    assert {layer_of(m) for m in closure(edges, web)} <= {0, 1, 2, 3, 4}


def test_the_checks_catch_what_they_are_for():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"p": {"p.x"}, "p.x": {"p"}}) == ["p", "p.x", "p"]  # __init__ and its submodule
    assert find_cycle({"p": set(), "p.x": {"p"}, "p.y": {"p.x"}}) is None
    assert layer_of("compute.stats.drivers") < layer_of("compute.run.pipeline")
    assert layer_of("compute.errors") == 0 and layer_of("compute.cli") == len(LAYERS) - 1
    assert _imports_torch("compute.engine.model", compute_graph())


def test_the_settings_and_the_command_line_load_no_torch():
    """The command line (its --help) and the dashboard's jobs read every option without torch."""
    import subprocess
    import sys

    code = (
        "import sys, compute.run.settings, compute.cli; compute.cli.build_parser(); "
        "assert 'torch' not in sys.modules, 'torch'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# What each model's module alone may name of its library (AlphaGenome calls its heads `_heads` too).
MODEL_INTERNALS = {
    "enformer.py": ("enformer_pytorch", "._heads", ".conv_tower", ".final_pointwise", "use_tf_gamma",
                    ".stem("),
    "borzoi.py": ("borzoi_pytorch", ".res_tower", ".conv_dna", ".human_head", ".unet1", ".separable0"),
    "alphagenome.py": ("alphagenome_pt", "._heads", ".sequence_encoder", ".transformer_tower", ".output_t",
                       ".multiorg_linear"),
}  # fmt: skip
# The catalog finds borzoi-pytorch's shipped track table by the package's name, without importing it.
ALSO_ALLOWED = {"catalog.py": ("borzoi_pytorch",)}


def test_only_each_model_module_knows_its_library():
    """The model interface (compute/engine/model.py) is all the rest of compute/ uses of a model:
    enformer-pytorch is known to compute/engine/enformer.py only, borzoi-pytorch to borzoi.py,
    alphagenome-pt to alphagenome.py."""
    def forbidden(name: str) -> set[str]:
        others = {w for module, words in MODEL_INTERNALS.items() if module != name for w in words}
        return others - set(MODEL_INTERNALS.get(name, ())) - set(ALSO_ALLOWED.get(name, ()))

    found = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in (ROOT / "compute").rglob("*.py")
        for word in sorted(forbidden(path.name))
        if word in path.read_text()
    ]
    assert found == []


def test_no_module_below_the_command_line_starts_it():
    """A process started as `python -m compute ...` is an import of compute.cli by other means:
    only the command line itself (and app.py, above compute/) may name it."""
    import re

    starts_cli = re.compile(r"""["']-m["']\s*,\s*["']compute["']""")
    found = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "compute").rglob("*.py")
        if module_name(path) not in LAYERS[-1] and starts_cli.search(path.read_text())
    ]
    assert found == []
    assert starts_cli.search('[python, "-m", "compute", "jobs", "run"]')
