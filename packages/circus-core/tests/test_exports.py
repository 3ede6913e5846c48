"""The public surface: ``__all__`` lists exactly the public names, the manual's
import paths work, every exported callable has a docstring, and py.typed ships.
"""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
from types import ModuleType

import circus
import pytest

PACKAGES = ["circus", "circus.config", "circus.stream"]


def _public_names(module: ModuleType) -> set[str]:
    """Names a user is meant to use: not private, not a submodule, not a helper import."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value) or name == "annotations":
            continue
        home = getattr(value, "__module__", module.__name__)
        if home.split(".")[0] != "circus":  # typing.Any, os, pkgutil.extend_path...
            continue
        names.add(name)
    return names


def _isort_order(names: list[str]) -> list[str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions, each sorted."""
    return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))


def test_circus_all_is_exactly_the_public_names():
    assert circus.__all__ == ["__version__", "get_arbiter"]
    assert set(circus.__all__) - {"__version__"} == _public_names(circus)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name):
    module = importlib.import_module(name)
    assert module.__all__ in (sorted(module.__all__), _isort_order(module.__all__))
    assert len(set(module.__all__)) == len(module.__all__)
    assert set(module.__all__) - {"__version__"} == _public_names(module)
    for exported in module.__all__:
        assert hasattr(module, exported), exported


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_callable_has_its_own_docstring(name):
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no module docstring"
    for exported in module.__all__:
        value = getattr(module, exported)
        if callable(value):
            # vars(), not getdoc(): a class must not just inherit its parent's text.
            own = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
            assert (own or "").strip(), f"{name}.{exported} has no docstring"


def test_version_is_a_version_string():
    assert isinstance(circus.__version__, str)
    assert all(part.isdigit() for part in circus.__version__.split(".")[:2])


@pytest.mark.parametrize("path", [
    "circus.get_arbiter",
    "circus.arbiter.Arbiter",
    "circus.watcher.Watcher",
    "circus.process.Process",
    "circus.process.RUNNING",
    "circus.process.DEAD_OR_ZOMBIE",
    "circus.process.UNEXISTING",
    "circus.process.OTHER",
    "circus.stream.FileStream",
    "circus.stream.WatchedFileStream",
    "circus.stream.TimedRotatingFileStream",
    "circus.stream.StdoutStream",
    "circus.stream.FancyStdoutStream",
    "circus.stream.QueueStream",
    "circus.config.load_config",
    "circus.errors.CircusError",
    "circus.errors.ConfigError",
    "circus.circusd.main",
])
def test_documented_import_paths(path):
    module_name, _, attr = path.rpartition(".")
    module = importlib.import_module(module_name)
    assert getattr(module, attr) is not None


def test_from_circus_import_get_arbiter():
    from circus import get_arbiter

    assert get_arbiter is circus.get_arbiter
    assert (get_arbiter.__doc__ or "").strip()


@pytest.mark.parametrize(("cls_path", "methods"), [
    ("circus.process.Process", ["age", "children", "info", "is_child", "send_signal",
                                "send_signal_child", "send_signal_children", "stop"]),
    ("circus.watcher.Watcher", ["kill_process", "kill_processes", "manage_processes",
                                "notify_event", "spawn_process", "spawn_processes"]),
    ("circus.arbiter.Arbiter", ["add_watcher", "get_watcher", "numprocesses", "numwatchers",
                                "reload", "start", "stop"]),
])
def test_documented_methods_exist_with_docstrings(cls_path, methods):
    module_name, _, name = cls_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    assert (cls.__doc__ or "").strip()
    for method in methods:
        assert callable(getattr(cls, method)), method
        assert (getattr(cls, method).__doc__ or "").strip(), f"{name}.{method}"


def test_process_properties_documented():
    from circus.process import Process

    for prop in ("pid", "status", "stdout", "stderr"):
        assert isinstance(inspect.getattr_static(Process, prop), property), prop
        assert (getattr(Process, prop).__doc__ or "").strip()


def test_py_typed_ships():
    marker = importlib.resources.files("circus").joinpath("py.typed")
    assert marker.is_file()
