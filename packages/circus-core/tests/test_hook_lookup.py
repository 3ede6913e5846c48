"""Where hook modules are found: PYTHONPATH from the env, next to the config, the start dir.

Every test writes a module with a name of its own into a temporary directory,
so nothing is served from an earlier import, and puts ``sys.path`` and the
list of search directories back afterwards.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from circus._daemon.from_config import build_arbiter
from circus._watching import hooks as _hooks
from circus.config import ConfigError, load_config
from circus.watcher import Watcher
from conftest import python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


@pytest.fixture(autouse=True)
def restore_import_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    path, modules = list(sys.path), set(sys.modules)
    monkeypatch.setattr(_hooks, "_search_dirs", [], raising=False)
    monkeypatch.setattr(_hooks, "_START_DIR", None, raising=False)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def hook_module(directory: Path) -> str:
    """Write a module with a fresh name and a ``check`` hook into ``directory``; return its name."""
    name = f"hookmod_{uuid.uuid4().hex}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text("def check(**kwargs):\n    return True\n")
    return name


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_pythonpath_in_the_watchers_env_joins_sys_path_before_hooks_resolve(
    tmp_path: Path,
) -> None:
    hooks_dir = tmp_path / "hooks"
    name = hook_module(hooks_dir)
    watcher = Watcher("w", cmd=SLEEPER, env={"PYTHONPATH": f"/nowhere{os.pathsep}{hooks_dir}"},
                      hooks={"before_start": f"{name}.check"})
    assert watcher.hooks.specs()["before_start"][0].__module__ == name
    assert str(hooks_dir) in sys.path and "/nowhere" in sys.path


def test_relative_pythonpath_entries_are_taken_from_the_working_dir(tmp_path: Path) -> None:
    name = hook_module(tmp_path / "work" / "lib")
    Watcher("w", cmd=SLEEPER, working_dir=str(tmp_path / "work"), env={"PYTHONPATH": "lib"},
            hooks={"before_start": f"{name}.check"})
    assert str(tmp_path / "work" / "lib") in sys.path


def test_a_pythonpath_in_an_env_name_section_finds_the_hook(tmp_path: Path) -> None:
    name = hook_module(tmp_path / "hooks")
    config = write_config(tmp_path / "etc" / "circus.ini", (
        f"[watcher:web]\ncmd = {SLEEPER}\nhooks.before_start = {name}.check\n"
        f"[env:web]\nPYTHONPATH = {tmp_path / 'hooks'}\n"))
    arbiter = build_arbiter(load_config(config))
    assert "before_start" in arbiter.get_watcher("web").hooks


def test_a_pythonpath_in_the_env_section_finds_the_hook(tmp_path: Path) -> None:
    name = hook_module(tmp_path / "hooks")
    config = write_config(tmp_path / "etc" / "circus.ini", (
        f"[env]\nPYTHONPATH = {tmp_path / 'hooks'}\n"
        f"[watcher:web]\ncmd = {SLEEPER}\nhooks.before_start = {name}.check\n"))
    arbiter = build_arbiter(load_config(config))
    assert "before_start" in arbiter.get_watcher("web").hooks


def test_a_hook_module_next_to_the_config_file_is_found(tmp_path: Path) -> None:
    name = hook_module(tmp_path / "etc")
    config = write_config(tmp_path / "etc" / "circus.ini",
                          f"[watcher:web]\ncmd = {SLEEPER}\nhooks.before_start = {name}.check\n")
    assert str(tmp_path / "etc") not in sys.path and os.getcwd() != str(tmp_path / "etc")
    arbiter = build_arbiter(load_config(config))
    assert "before_start" in arbiter.get_watcher("web").hooks
    # Its directory stays on sys.path: the module's own later imports work too.
    assert str(tmp_path / "etc") in sys.path


def test_a_hook_module_in_the_start_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = hook_module(tmp_path / "start")
    monkeypatch.setattr(_hooks, "_START_DIR", str(tmp_path / "start"))
    watcher = Watcher("w", cmd=SLEEPER, hooks={"before_start": f"{name}.check"})
    assert "before_start" in watcher.hooks


def test_a_hook_found_nowhere_names_every_directory_searched(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc" / "circus.ini", (
        f"[watcher:web]\ncmd = {SLEEPER}\nworking_dir = {tmp_path}\n"
        "hooks.before_start = no_such_hookmod.check\n"
        f"[env:web]\nPYTHONPATH = {tmp_path / 'lib'}\n"))
    with pytest.raises(ConfigError) as info:
        build_arbiter(load_config(config))
    message = str(info.value)
    assert message.startswith(f"{config}, [watcher:web]: hooks.before_start = ")
    assert "no module named 'no_such_hookmod' in any of " in message
    for directory in (tmp_path, tmp_path / "lib", tmp_path / "etc", *sys.path[:2]):
        assert f"{directory}," in message or f"{directory};" in message
    assert "add its directory to PYTHONPATH in [env] or [env:NAME]" in message
    assert "\n" not in message


def test_a_hook_module_whose_own_import_fails_says_so(tmp_path: Path) -> None:
    (tmp_path / "broken_hookmod.py").write_text("import no_such_dependency\n")
    with pytest.raises(ValueError, match=r"cannot import hook 'broken_hookmod.check': "
                       r"No module named 'no_such_dependency'$"):
        Watcher("w", cmd=SLEEPER, working_dir=str(tmp_path),
                hooks={"before_start": "broken_hookmod.check"})


def test_copy_path_leaves_out_what_hook_lookup_added(tmp_path: Path) -> None:
    from circus._watching.spawn import build_env

    name = hook_module(tmp_path / "hooks")
    Watcher("w", cmd=SLEEPER, env={"PYTHONPATH": str(tmp_path / "hooks")},
            hooks={"before_start": f"{name}.check"})
    assert str(tmp_path / "hooks") in sys.path
    env = build_env({}, copy_env=True, copy_path=True, virtualenv=None, virtualenv_py_ver=None)
    entries = env["PYTHONPATH"].split(os.pathsep)
    assert str(tmp_path / "hooks") not in entries  # another watcher's PYTHONPATH stays its own
    assert entries == [p for p in sys.path if p and p != str(tmp_path / "hooks")]
