"""The import graph of the bnn package: no module imports itself through others (imports made only
for type checkers count too), each layer (a folder of bnn/) imports only from the layers below it,
and no file name is used twice in the code of the package and the app."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bnn"

# bnn's layers, lowest first: a module may import from its own layer and the ones before it
LAYERS = (
    "bnn.config",  # the settings: plain Python
    "bnn.network",  # the model, its layers, loss and optimizer
    "bnn.training",  # the loop, live edits, data, devices, processes, records
    "bnn.jobs",  # a run, its folder, a job training it, studies
    "bnn.analysis",  # diagnosis, summaries, probes, drawings
    "bnn.xnor",  # the packed engine
    "bnn.deploy",  # its files: packed, C, ONNX
    "bnn.plots",  # the figures
    "bnn.api",  # the notebook API
    "bnn.cli",  # the command line
    "bnn",  # the package (its public names) and python -m bnn
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth: inside functions too, and the annotation-only ones
    under ``if TYPE_CHECKING:`` (a circle closed by a type-only import is a circle all the same)."""
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def import_graph() -> dict[str, set[str]]:
    """bnn module -> the bnn modules it imports (``bnn.x`` and relative imports)."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
                continue
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:  # ``from . import kernels`` imports the submodule
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in files else base)
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as its modules in import order (first one repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str) -> int:
    """The index in LAYERS of the folder ``module`` is in."""
    return max(i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + "."))


def test_the_graph_sees_relative_function_level_submodule_and_type_only_imports():
    graph = import_graph()
    assert "bnn.network.models" in graph["bnn.xnor.export"]  # ``from ..network.models import`` inside a function
    assert "bnn.xnor.kernels" in graph["bnn.xnor.model"]  # ``from . import kernels``
    assert "bnn.network.summary" in graph["bnn.plots.model_size"]
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bnn.jobs.run import Run\n"
    assert [node.module for node in _imports(ast.parse(code))] == ["typing", "bnn.jobs.run"]


def test_find_cycle_names_the_modules_of_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_bnn_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_of_bnn_is_in_a_layer():
    outside = [name for name in import_graph() if name.count(".") == 1 and name not in LAYERS]
    assert outside == ["bnn.__main__"], outside


def test_no_layer_imports_from_a_layer_above_it():
    upward = [
        f"{name} ({LAYERS[layer_of(name)]}) imports {target} ({LAYERS[layer_of(target)]})"
        for name, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "\n".join(upward)


def test_no_file_name_is_used_twice():
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "ui").rglob("*.py"), *(ROOT / "app_pages").glob("*.py"), ROOT / "app.py"]
    seen: dict[str, list[str]] = {}
    for path in files:
        if path.name != "__init__.py":
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}
