"""papa: a client for the papa process kernel, compatible with papa 1.0.6.

The kernel keeps listening sockets, processes (with their captured output)
and small text values alive while the programs that use them restart::

    import papa

    with papa.Papa() as p:
        p.make_socket("web", port=8080)
        p.make_process("web.1", sys.executable, args=("app.py",), env=os.environ)
        with p.watch_processes("web.*") as watcher:
            while watcher:
                batch = watcher.read()
                if batch is None:
                    break
                out, err, closed = batch

``PIPE``, ``STDOUT`` and ``DEVNULL`` are the :mod:`subprocess` constants, used
for ``make_process(stdout=..., stderr=...)``. The kernel itself is
``python -m papa.server``.
"""

from __future__ import annotations

import subprocess

from ._client import (
    Papa,
    set_debug_mode,
    set_default_connection_timeout,
    set_default_path,
    set_default_port,
)
from ._watcher import Handover, ProcessOutput, Watcher
from ._wire import Error

PIPE = subprocess.PIPE
"""Capture the stream (the default for stdout and stderr)."""

STDOUT = subprocess.STDOUT
"""For ``stderr`` only: merge it into stdout, so it arrives as ``out`` records."""

DEVNULL = subprocess.DEVNULL
"""Discard the stream."""

__all__ = [
    "DEVNULL",
    "PIPE",
    "STDOUT",
    "Error",
    "Handover",
    "Papa",
    "ProcessOutput",
    "Watcher",
    "set_debug_mode",
    "set_default_connection_timeout",
    "set_default_path",
    "set_default_port",
]
