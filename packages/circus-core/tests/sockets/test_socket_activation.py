"""socket_activation: an unmodified systemd-activated server (gunicorn) runs under circus."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circus.sockets import CircusSocket
from circus.watcher import Watcher
from conftest import apoll, python_cmd

MakeArbiter = Callable[..., Any]

_REPORT = r"""
import json, os, sys
fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
keys = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
report = {"pid": os.getpid(), "fds": fds, "argv": sys.argv[2:],
          **{k: os.environ.get(k) for k in keys}}
open(sys.argv[1], "w").write(json.dumps(report))
import time
time.sleep(60)
"""


async def test_children_get_listen_fds_at_three(make_arbiter: MakeArbiter,
                                                tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    a = CircusSocket(name="a", host="127.0.0.1", port=0)
    b = CircusSocket(name="b", host="127.0.0.1", port=0)
    cmd = f"{python_cmd(_REPORT)} {report} $(circus.sockets.b)"
    watcher = Watcher("w", cmd, socket_activation=True, use_sockets=True)
    harness = await make_arbiter(watcher, sockets={"a": a, "b": b})
    data = await apoll(lambda: report.exists() and report.read_text()
                       and json.loads(report.read_text()))
    assert data["pid"] == harness.watcher("w").pids[0]
    assert data["LISTEN_PID"] == str(data["pid"])
    assert data["LISTEN_FDS"] == "2" and data["LISTEN_FDNAMES"] == "b:a"
    assert data["argv"] == ["3"]  # the variable names the fd the child sees
    # stdio, the two sockets, and the one fd listdir itself used.
    assert data["fds"][:5] == [0, 1, 2, 3, 4] and len(data["fds"]) == 6


async def test_gunicorn_serves_through_socket_activation(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent("""
        import os
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello from " + str(os.getpid()).encode()]
    """))
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    assert gunicorn is not None, "gunicorn is in requirements-dev.txt"
    web = CircusSocket(name="web", host="127.0.0.1", port=0)
    watcher = Watcher("g", f"{gunicorn} --workers 1 app:app", working_dir=str(tmp_path),
                      use_sockets=True, socket_activation=True, graceful_timeout=10)
    harness = await make_arbiter(watcher, sockets={"web": web})

    async def get() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", web.port)
        writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        return data

    body = await asyncio.wait_for(get(), 20)
    assert body.startswith(b"HTTP/1.") and b"200 OK" in body and b"hello from " in body
    assert harness.watcher("g").pids


def test_socket_activation_cannot_be_set_live() -> None:
    from circus._reconfig.live_options import parse_set_options
    from circus.errors import MessageError

    watcher = Watcher("w", "true")
    try:
        parse_set_options(watcher, {"socket_activation": True})
    except MessageError as exc:
        assert "cannot set 'socket_activation'" in str(exc)
    else:
        raise AssertionError("set socket_activation was accepted")
    assert watcher.socket_activation is False
