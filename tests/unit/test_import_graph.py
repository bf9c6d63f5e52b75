"""The package's structure, read from its imports: no circle between modules, no module
using another's private names, no module too long to read.

Every ``import`` counts, the ones inside functions too (an import moved into a function
hides a circle from Python, not from a reader); imports under ``if TYPE_CHECKING:`` do
not run and are left out. Privacy is checked over everything that imports the package:
the package itself, the DAG files, the Spark jobs, the benchmarks and the tests.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

from lakeops.core.settings import repo_root

ROOT = repo_root()
PACKAGE = ROOT / "plugins" / "lakeops"
IMPORTERS = [ROOT / "plugins", ROOT / "dags", ROOT / "spark_jobs", ROOT / "benchmarks",
             ROOT / "tests"]
MAX_LINES = 500


def _module_name(path: Path) -> str:
    base = ROOT / "plugins" if path.is_relative_to(ROOT / "plugins") else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


MODULES = {_module_name(p): p for p in _sources(PACKAGE)}


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


OURS = {_module_name(p): p for folder in IMPORTERS for p in _sources(folder)}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, at any depth."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for part in node.orelse for n in _imports_of(part))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if OURS[module].name == "__init__.py" else \
        module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _targets(module: str, tree: ast.AST) -> Iterator[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for each import of ours."""
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
            continue
        source = _absolute(module, node)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in OURS:
                yield submodule, None, node.lineno
            else:
                yield source, alias.name, node.lineno


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, _ in _targets(module, _tree(path)):
            if target in MODULES and target != module:
                graph[module].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other through their imports."""
    found = nx.strongly_connected_components(nx.DiGraph(
        [(a, b) for a, targets in graph.items() for b in targets]))
    return sorted(sorted(c) for c in found if len(c) > 1)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_aliases(module: str, tree: ast.AST) -> dict[str, str]:
    """Local names bound to one of our modules (``from lakeops.x import y``, ``import
    lakeops.x as y``)."""
    aliases: dict[str, str] = {}
    for node in _imports(tree):
        for alias in node.names:
            if isinstance(node, ast.Import):
                target = alias.name if alias.asname else ""
            else:
                target = f"{_absolute(module, node)}.{alias.name}"
            if target in OURS and target != module:
                aliases[alias.asname or alias.name] = target
    return aliases


def _private_uses(module: str, where: str, tree: ast.AST) -> Iterator[str]:
    for target, name, line in _targets(module, tree):
        if target in OURS and target != module and name is not None and _private(name):
            yield f"{where}:{line} imports {target}.{name}"
    aliases = _module_aliases(module, tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)):
            yield f"{where}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}"


@pytest.fixture(scope="module", autouse=True)
def _parsed() -> None:
    """Every source parsed once, before the tests read them (parsing is the slow part)."""
    for path in OURS.values():
        _tree(path)


def test_the_graph_sees_the_package() -> None:
    graph = _edges()
    # the stages import the lake; a graph without that edge would check nothing
    assert "lakeops.storage.lake" in graph["lakeops.ingest.stage"]
    assert len(MODULES) > 60


def test_no_import_circle() -> None:
    circles = _circles(_edges())
    assert not circles, "modules importing each other (also through functions): " + \
        "; ".join(" <-> ".join(c) for c in circles)


def test_no_module_uses_anothers_private_names() -> None:
    uses = [u for module, path in OURS.items() for u in _private_uses(
        module, str(path.relative_to(ROOT)), _tree(path))]
    assert not uses, "private names used outside their module:\n" + "\n".join(uses)


def _rooms(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the package's folders (``lakeops.ingest``, ``lakeops.ml``, ...)."""
    def room(module: str) -> str:
        return ".".join(module.split(".")[:2])

    rooms: dict[str, set[str]] = {room(m): set() for m in graph}
    for module, targets in graph.items():
        rooms[room(module)] |= {room(t) for t in targets} - {room(module)}
    return rooms


def test_folders_import_in_one_direction() -> None:
    """The folders stack up (core at the bottom, cli at the top): no two reach each other,
    so each can be read knowing only the folders below it."""
    circles = _circles(_rooms(_edges()))
    assert not circles, "folders importing each other: " + \
        "; ".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_short_enough_to_read(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by what it does"


def test_the_checks_catch_what_they_look_for() -> None:
    """A circle and a private import, written on purpose, are found."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _rooms({"lakeops.x.a": {"lakeops.y.b"}, "lakeops.y.b": {"lakeops.x.c"},
                   "lakeops.x.c": set()}) == {"lakeops.x": {"lakeops.y"},
                                              "lakeops.y": {"lakeops.x"}}
    tree = ast.parse("from lakeops.storage.lake import _x\n"
                     "from lakeops.storage import lake\n"
                     "def f():\n    return lake._y\n")
    found = list(_private_uses("lakeops.ingest.stage", "probe.py", tree))
    assert found == ["probe.py:1 imports lakeops.storage.lake._x",
                     "probe.py:4 uses lakeops.storage.lake._y"]
