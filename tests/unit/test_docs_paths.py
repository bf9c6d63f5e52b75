"""The README and the pages under docs/ name only what exists: every repository path
(``plugins/...``, ``dags/...``, ``tests/...``) and every ``lakeops.<module>`` name they
write is in the tree, so the docs follow when code moves.

A dotted name may be a package, a module, or a name a module defines (``lakeops.query.connect``);
modules are read as source (``ast``), never imported. A path with a placeholder
(``expectations/contracts/<source>/<table>.yml``) must match at least one file; a path
under a git-ignored folder (``benchmarks/results/``) is what a run writes, not source.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP_FOLDERS = ("plugins", "dags", "tests", "benchmarks", "expectations", "superset", "docs",
               "docker", "dbt", "spark_jobs", "requirements")
# a path starts a token: not inside a URL, a longer path or a file name (…/data_docs/…)
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP_FOLDERS)})/[\w.<>*/-]*)")
MODULE = re.compile(r"(?<![\w./-])(lakeops(?:\.[a-z_]\w*)+)")


def _names(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = set()
    for doc in DOCS:
        for match in pattern.finditer(doc.read_text(encoding="utf-8")):
            found.add((doc.relative_to(ROOT).as_posix(), match.group(1).rstrip(".")))
    return sorted(found)


def _ignored_folders() -> list[str]:
    """The folders .gitignore anchors to a place in the tree (``benchmarks/results/``)."""
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return [line.strip("/") + "/" for line in lines
            if "/" in line.strip("/") and not line.startswith(("#", "!"))]


def _path_exists(path: str) -> bool:
    pattern = re.sub(r"<[^>]*>", "*", path).rstrip("/")
    if "*" in pattern:
        return any(ROOT.glob(pattern))
    return (ROOT / pattern).exists()


@cache
def _defined_names(module: Path) -> frozenset[str]:
    """Names a module's top level defines: functions, classes, assignments, imports."""
    names: set[str] = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def _module_exists(dotted: str) -> bool:
    """A package, a module, or a module and one name it defines (``...settings.Settings``;
    an attribute of that name, ``Settings.home``, is not checked)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = PACKAGE.joinpath(*parts[:end])
        source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not source.is_file():
            continue
        rest = parts[end:]
        return not rest or rest[0] in _defined_names(source)
    return False


PATHS = [(doc, path) for doc, path in _names(PATH)
         if not path.startswith(tuple(_ignored_folders()))]
MODULES = _names(MODULE)


def test_the_docs_name_paths_and_modules() -> None:
    """The patterns find what the README is known to name (an empty parametrization
    below would pass without checking anything)."""
    assert ("README.md", "docs/architecture.md") in PATHS
    assert any(name.startswith("lakeops.") for _, name in MODULES)


@pytest.mark.parametrize(("doc", "path"), PATHS, ids=[f"{d}:{p}" for d, p in PATHS])
def test_path_exists(doc: str, path: str) -> None:
    assert _path_exists(path), f"{doc} names {path}, which is not in the tree"


@pytest.mark.parametrize(("doc", "name"), MODULES, ids=[f"{d}:{n}" for d, n in MODULES])
def test_module_exists(doc: str, name: str) -> None:
    assert _module_exists(name), (
        f"{doc} names {name}, which is no package, module or module-level name under "
        f"plugins/lakeops")
