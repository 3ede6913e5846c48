"""Each layer of circus-core imports only the layers below it.

``LAYERS`` is the order, lowest first (the circus-core README explains each
layer). A module belongs to the layer of the longest prefix that names it.
Imports within a layer are free. A module may name a higher layer's class
only as a type, under ``if TYPE_CHECKING:``; at run time it must not import
it, not even inside a function. Every ``.py`` file circus-core installs is
parsed with :mod:`ast` (nothing is imported), so a forbidden import fails
here even on a code path no other test runs.
"""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import PurePosixPath

import pytest

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("circus.errors", "circus._base")),
    ("parts", ("circus.config", "circus.stream", "circus.sockets")),
    ("watching", ("circus._watching",)),
    ("core", ("circus.process", "circus.watcher", "circus._papa")),
    ("setup", ("circus._setup", "circus._reconfig")),
    ("commands", ("circus.commands",)),
    ("channels", ("circus._channels",)),
    ("arbiter", ("circus.arbiter",)),
    ("daemon", ("circus._daemon", "circus.circusd", "circus")),
]


def layer_of(module: str) -> int | None:
    """The rank of ``module`` in LAYERS (0 is the bottom), None if it has none."""
    best: tuple[int, int] | None = None  # (prefix length, rank)
    for rank, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            names_it = module == prefix or module.startswith(prefix + ".")
            if names_it and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def _installed() -> dict[str, str]:
    """Module name -> source of every module circus-core installs."""
    files = importlib.metadata.files("circus-core") or []
    modules = {}
    for file in files:
        path = PurePosixPath(str(file))
        if path.suffix != ".py" or path.parts[0] != "circus":
            continue
        parts = list(path.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = file.read_text(encoding="utf-8")
    assert modules, "circus-core is not installed (run make install)"
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement outside an ``if TYPE_CHECKING:`` body, at any depth."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    walk_stmt(stmt)
                continue
            walk_stmt(child)

    def walk_stmt(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        walk(node)

    walk(tree)
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             known: set[str]) -> list[str]:
    """The circus modules ``node`` loads at run time."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    # `from circus import x` loads the submodule circus.x when there is one.
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
            for alias in node.names]


def upward_imports(module: str, source: str, is_package: bool,
                   known: set[str]) -> list[str]:
    """One line per run-time import of ``module`` that reaches above its layer."""
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer: add it to LAYERS"
    problems = []
    for node in _runtime_imports(ast.parse(source)):
        for target in _targets(module, is_package, node, known):
            if target.split(".")[0] != "circus":
                continue
            rank = layer_of(target)
            if rank is None or target not in known:
                problems.append(f"{module}:{node.lineno} imports {target}, "
                                "which is not a circus-core module")
            elif rank > own:
                problems.append(
                    f"{module}:{node.lineno} ({LAYERS[own][0]}) imports {target} "
                    f"({LAYERS[rank][0]}) at run time; import it under TYPE_CHECKING "
                    "or move the code down")
    return problems


def test_every_module_imports_only_its_layer_and_below():
    modules = _installed()
    known = set(modules)
    problems = []
    for module, source in sorted(modules.items()):
        is_package = any(other.startswith(module + ".") for other in known)
        problems += upward_imports(module, source, is_package, known)
    assert problems == []


def test_every_module_has_a_layer():
    assert [m for m in _installed() if layer_of(m) is None] == []


KNOWN = {"circus", "circus.watcher", "circus._base", "circus._base.events",
         "circus._watching", "circus._watching.spawn"}


@pytest.mark.parametrize(("source", "expected"), [
    ("from circus.watcher import Watcher\n", 1),
    ("def f():\n    from circus.watcher import Watcher\n", 1),
    ("import circus.watcher\n", 1),
    ("from circus._watching import spawn\n", 1),
    ("if TYPE_CHECKING:\n    from circus.watcher import Watcher\n", 0),
    ("if typing.TYPE_CHECKING:\n    pass\nelse:\n    from circus.watcher import Watcher\n", 1),
    ("from circus.errors import CircusError\nimport os\n", 0),
    ("from . import events\n", 0),
])
def test_the_check_catches_an_upward_import(source, expected):
    found = upward_imports("circus._base.events", source, False, KNOWN | {"circus.errors"})
    assert len(found) == expected, found
    if expected:
        assert "(base) imports circus." in found[0]
