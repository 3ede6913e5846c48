"""The test suites exercise the installed wheels, not the source tree.

`make test` builds each package into a wheel and installs it into `.venv`; these
checks fail if `circus` is imported from a `src/` directory instead (an editable
install, or `src/` leaking onto `sys.path`), which would hide a module, entry
point or data file missing from the wheel.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import sysconfig
from pathlib import Path

import circus

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"]).resolve()
VENV_BIN = Path(sys.prefix) / "bin"


def _origins() -> list[Path]:
    # Every directory `circus` is loaded from (several once it spans packages).
    return [Path(p).resolve() for p in circus.__path__]


def test_runs_inside_a_virtualenv() -> None:
    assert sys.prefix != sys.base_prefix, "tests must run with the project's .venv python"


def test_circus_is_imported_from_site_packages() -> None:
    for origin in _origins():
        assert origin.is_relative_to(SITE_PACKAGES), f"circus loaded from {origin}"
        assert "src" not in origin.parts, f"circus loaded from a source tree: {origin}"


def test_no_source_tree_on_sys_path() -> None:
    leaked = [p for p in sys.path if Path(p or ".").resolve().name == "src"]
    assert not leaked, f"src/ dirs on sys.path: {leaked}"


def test_circus_core_is_not_an_editable_install() -> None:
    # pip records how a distribution was installed in direct_url.json (PEP 610).
    direct_url = importlib.metadata.distribution("circus-core").read_text("direct_url.json")
    info = json.loads(direct_url or "{}")
    assert not info.get("dir_info", {}).get("editable", False)


def test_typing_marker_is_shipped() -> None:
    assert any((o / "py.typed").is_file() for o in _origins()), "py.typed not installed"


def test_circusd_console_script_is_installed() -> None:
    script = VENV_BIN / "circusd"
    assert script.is_file(), f"{script} is missing"
    assert os.access(script, os.X_OK), f"{script} is not executable"
    names = {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert "circusd" in names
