"""The toolkit's parts import each other in one direction only: no cycle between its subpackages and modules.

A unit is a subpackage (``toolkit/plan/``) or a top-level module (``toolkit/errors.py``). Every import of
every module counts, including the ones inside functions (the toolkit imports heavy things lazily, and a lazy
import is still an arrow: ``images -> spec tests -> backend -> images`` was a cycle made only of those).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "toolkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (REPO / relative).with_suffix(".py").is_file() or (REPO / relative / "__init__.py").is_file()


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(toolkit module, line) for every import in the file, wherever it sits (function bodies included)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from toolkit.plan import render` imports the module toolkit.plan.render; `from toolkit.plan
            # import make_plan` imports toolkit.plan.
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                found.append((candidate if is_module(candidate) else origin, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return [(name, line) for name, line in found if name == "toolkit" or name.startswith("toolkit.")]


def unit_of(module: str) -> str | None:
    """``toolkit.plan.model`` -> ``plan``; the package's own ``__init__`` (only ``__version__``) is no unit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def unit_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> where (``file:line``), for every arrow between two different units."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        source = unit_of(module_name(path))
        for target_module, line in imported_modules(path):
            target = unit_of(target_module)
            if source and target and target != source:
                place = f"{path.relative_to(REPO)}:{line}"
                if place not in graph[source][target]:
                    graph[source][target].append(place)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = set(graph) | {target for targets in graph.values() for target in targets}
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def describe(graph: dict[str, dict[str, list[str]]], component: list[str]) -> str:
    members = set(component)
    lines = [f"cycle between {', '.join(component)}:"]
    for source in component:
        for target, places in sorted(graph[source].items()):
            if target in members:
                lines.append(f"  {source} -> {target}: {', '.join(places)}")
    return "\n".join(lines)


def test_no_import_cycle_between_the_toolkits_subpackages_and_modules():
    graph = unit_graph()
    found = cycles(graph)
    assert found == [], "\n".join(describe(graph, component) for component in found)


def test_the_graph_sees_imports_inside_functions_and_through_package_names():
    """The check above is only as good as the graph: it must hold the arrows a reader can see in the code."""
    graph = unit_graph()
    # backend imports the images helpers inside _build_batch, the CLI imports the pipeline inside run().
    assert "toolkit/backend/__init__.py" in " ".join(graph["backend"]["images"])
    assert {"pipeline", "spectests", "images"} <= set(graph["cli"])
    # `from toolkit.render import ...` in plan's __init__ is an arrow plan -> render.
    assert "toolkit/plan/__init__.py" in " ".join(graph["plan"]["render"])
    assert {"spec", "errors", "query"} <= set(graph["plan"])
    assert set(graph["spectests"]) >= {"backend", "plan", "query"}


def test_the_cycle_finder_reports_every_unit_of_a_cycle():
    graph = {"a": {"b": ["x:1"]}, "b": {"c": ["x:2"]}, "c": {"a": ["x:3"], "d": ["x:4"]}, "d": {}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b": ["x:1"]}, "b": {}}) == []
