"""The layers of docs/architecture.md, checked on the source: imports point down, no cycles."""

from __future__ import annotations

import ast
import os
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ucwatch"

LAYERS = {
    "ucwatch.core": 0,
    "ucwatch.schemas": 1,
    "ucwatch.producers": 2, "ucwatch.streams": 2, "ucwatch.sinks": 2, "ucwatch.notify": 2,
    "ucwatch.simulate": 3, "ucwatch.analysts": 3,
    "ucwatch.console": 4, "ucwatch.app": 4,
}
ALLOWED_SIDEWAYS = {
    ("ucwatch.simulate", "ucwatch.producers"),  # the simulator publishes through the SDK
    ("ucwatch.analysts", "ucwatch.sinks"),      # analysts read the tables the sink owns
    ("ucwatch.app", "ucwatch.console"),         # the command line starts the console
}
TOP_LEVEL_NAMES = {"schemas", "producers", "streams", "sinks", "notify", "analysts", "simulate", "console"}


def _sources() -> list[Path]:
    """Every module of the package; the components are linked in, so links are followed."""
    return sorted(Path(folder) / name for folder, _, files in os.walk(PACKAGE, followlinks=True)
                  for name in files if name.endswith(".py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in TOP_LEVEL_NAMES:
                    graph[module].add("<top-level " + name + ">")
                if name.startswith("ucwatch."):
                    graph[module].add(name)
    return graph


def _layer(module: str) -> str | None:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _known_modules() -> set[str]:
    return {_module_name(path) for path in _sources()}


GRAPH = _imports()


def test_imports_use_the_one_namespace() -> None:
    stray = sorted(f"{module} -> {target}" for module, targets in GRAPH.items()
                   for target in targets if target.startswith("<top-level"))
    assert stray == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    source = _layer(module)
    if source is None:
        return
    upward = []
    for target in GRAPH[module]:
        layer = _layer(target)
        if layer is None or layer == source:
            continue
        if LAYERS[layer] > LAYERS[source] or (
                LAYERS[layer] == LAYERS[source] and (source, layer) not in ALLOWED_SIDEWAYS):
            upward.append(target)
    assert upward == [], f"{module} imports a layer above or beside it"


def test_no_import_cycles() -> None:
    known = _known_modules()
    edges = {module: {t for t in targets if t in known and t != module}
             for module, targets in GRAPH.items()}
    # a package's __init__ importing its own submodules is not a cycle between modules
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in edges.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


def test_every_module_sits_in_a_layer() -> None:
    outside = sorted(m for m in _known_modules() if m != "ucwatch" and _layer(m) is None)
    assert outside == []
