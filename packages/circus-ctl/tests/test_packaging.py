"""circus.client's public surface, and that it imports without circus-core."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import circus.client
import zmq

# The installed wheel's subpackages, inside site-packages/circus/.
INSTALLED = Path(circus.client.__file__).resolve().parent.parent
SUBPACKAGES = ("client", "ctl", "circusctl")


def test_all_is_sorted_and_complete():
    names = circus.client.__all__
    assert sorted(names, key=str.lower) == sorted(names, key=str.lower)
    for name in names:
        assert getattr(circus.client, name) is not None
    public = {n for n in vars(circus.client) if not n.startswith("_") and n[0].isupper()}
    public -= {"Any", "TYPE_CHECKING"}
    assert public <= set(names)


def test_imports_as_a_namespace_package_without_core(tmp_path):
    # A sys.path holding only what this wheel installed and pyzmq: no circus-core
    # anywhere, so no circus/__init__.py.
    zmq_dir = Path(zmq.__file__).parent
    site = tmp_path / "site"
    (site / "circus").mkdir(parents=True)
    for name in SUBPACKAGES:
        (site / "circus" / name).symlink_to(INSTALLED / name)
    (site / "zmq").symlink_to(zmq_dir)
    libs = zmq_dir.parent / "pyzmq.libs"
    if libs.exists():
        (site / "pyzmq.libs").symlink_to(libs)
    code = ("import sys, circus; from circus.client import CircusClient; "
            "import circus.circusctl; "
            "assert getattr(circus, '__file__', None) is None, circus.__file__; "
            "assert 'asyncio' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(site)},
                            timeout=30)
    assert result.stdout == "ok\n", result.stderr


def test_sync_import_does_not_load_asyncio():
    code = "import sys, circus.circusctl, circus.client; print('asyncio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.stdout == "False\n", result.stderr


def test_reply_shapes_load_on_first_use_and_describe_plain_dicts():
    code = ("import sys, circus.circusctl, circus.client, circus.ctl._main, circus.ctl._shell; "
            "print('circus.client._shapes' in sys.modules); "
            "from circus.client import ListReply; "
            "print(sorted(ListReply.__optional_keys__), sorted(ListReply.__required_keys__))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.stdout == (
        "False\n['errno', 'health', 'id', 'pids', 'reason', 'status', 'tb', 'time', "
        "'watchers'] []\n"
    ), result.stderr
