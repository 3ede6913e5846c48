"""No module of circus-core reaches into another object's ``_private`` members.

Classes expose what their collaborators need as documented methods; a module
that reads ``watcher._lock`` or writes ``arbiter._on_demand`` couples itself to
internals that can change at any time. This walks every installed module of the
package and fails on ``x._name`` where ``x`` is not ``self``/``cls``/``super()``.

Allowed: dunder names (``__name__``, ``__class__``, ...), and ``x._name`` where
``x`` is itself a private name the same module defines at its top level (a
private class of the module reaching its own class attributes). Stdlib names
that are public despite the underscore are listed in ``_STDLIB_PUBLIC``.
"""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

# Public API spelled with an underscore (os._exit is documented; sys._getframe too).
_STDLIB_PUBLIC = {("os", "_exit")}


def _sources() -> list[Path]:
    files = importlib.metadata.files("circus-core") or []
    paths = [Path(str(f.locate())) for f in files if str(f).endswith(".py")]
    assert paths, "circus-core is not installed (run make install)"
    return sorted(paths)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _is_owner(node: ast.expr) -> bool:
    if isinstance(node, ast.Name) and node.id in ("self", "cls"):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "super")


def private_accesses(path: Path) -> list[str]:
    """``file:line: expr._name`` for every cross-object private access in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _top_level_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        if _is_owner(node.value):
            continue
        if isinstance(node.value, ast.Name) and node.value.id.startswith("_") and (
                node.value.id in own):
            continue
        base = ast.unparse(node.value)
        if (base, name) in _STDLIB_PUBLIC:
            continue
        found.append((node.lineno, f"{path.name}:{node.lineno}: {base}.{name}"))
    return [text for _, text in sorted(found)]


def test_the_scan_sees_a_private_access(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "class _Private:\n"
        "    _CACHE = {}\n"
        "class A:\n"
        "    def f(self, other, logging):\n"
        "        self._x = other._y\n"
        "        super()._z()\n"
        "        os._exit(_Private._CACHE, logging._handlerList)\n"
        "        return other.__class__, self._helper\n"
    )
    assert private_accesses(sample) == ["sample.py:6: other._y",
                                        "sample.py:8: logging._handlerList"]


def test_no_module_touches_another_objects_private_members():
    found = [hit for path in _sources() for hit in private_accesses(path)]
    assert found == [], "private members reached from outside their object:\n" + "\n".join(found)
