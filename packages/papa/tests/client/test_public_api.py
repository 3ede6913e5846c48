"""The public surface: ``import papa`` and ``from papa import *`` give the 1.0.6 names
(plus ``Handover``, ours)."""

from __future__ import annotations

import inspect
import subprocess
from pathlib import Path

import papa
import pytest

from .conftest import FakeKernel, Kernel

PUBLIC = {"DEVNULL", "Error", "Handover", "PIPE", "Papa", "ProcessOutput", "STDOUT", "Watcher",
          "set_debug_mode", "set_default_connection_timeout", "set_default_path",
          "set_default_port"}


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from papa import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(papa.__all__) == PUBLIC
    # Sorted the isort way (ruff RUF022): constants, then classes, then functions.
    assert papa.__all__ == sorted(papa.__all__,
                                  key=lambda n: (not n.isupper(), not n[0].isupper(), n))


def test_public_names_are_documented_and_compatible() -> None:
    for name in papa.__all__:
        obj = getattr(papa, name)
        if callable(obj):
            assert inspect.getdoc(obj), name
    assert (papa.PIPE, papa.STDOUT, papa.DEVNULL) == (
        subprocess.PIPE, subprocess.STDOUT, subprocess.DEVNULL)
    assert issubclass(papa.Error, RuntimeError)
    assert papa.ProcessOutput._fields == ("name", "timestamp", "data")
    for function in ("set_default_port", "set_default_path", "set_default_connection_timeout",
                     "set_debug_mode"):
        assert callable(getattr(papa.Papa, function))


def test_default_path(fake: FakeKernel) -> None:
    papa.set_default_path(fake.path)
    with papa.Papa() as client:
        client.set("k", "v")
    assert fake.lines == [(0, "set k v")]
    with pytest.raises(papa.Error, match="absolute"):
        papa.Papa.set_default_path("relative.sock")


def test_default_port_replaces_the_default_path(kernel: Kernel, tmp_path: Path) -> None:
    papa.set_default_path(str(tmp_path / "nothing-here.sock"))
    papa.Papa.set_default_port(kernel.port)
    papa.set_default_connection_timeout(5)
    with papa.Papa() as client:
        assert client.list_values() == {}
