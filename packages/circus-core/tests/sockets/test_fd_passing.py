"""Which fds a worker gets: its sockets only, expanded into cmd and args."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from circus.sockets import CircusSocket
from circus.watcher import Watcher
from conftest import apoll

from ._workers import ask_pid, serve_cmd, serve_stdin_cmd

MakeArbiter = Callable[..., Any]


def _tcp(name: str) -> CircusSocket:
    return CircusSocket(name=name, host="127.0.0.1", port=0)


def _fds(pid: int) -> dict[int, str]:
    result = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            result[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return result


def _inode(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


async def test_dollar_variable_expands_and_worker_serves(make_arbiter: MakeArbiter) -> None:
    web = _tcp("web")
    harness = await make_arbiter(Watcher("w", serve_cmd("$(circus.sockets.web)")),
                                 sockets={"web": web})
    pid = await ask_pid("127.0.0.1", web.port)
    assert pid in harness.watcher("w").pids


async def test_double_paren_variable_in_args_expands(make_arbiter: MakeArbiter) -> None:
    web = _tcp("Web")
    watcher = Watcher("w", serve_cmd(""), args=["((circus.sockets.WEB))"])
    harness = await make_arbiter(watcher, sockets=[web])
    pid = await ask_pid("127.0.0.1", web.port)
    assert pid in harness.watcher("w").pids


async def test_worker_gets_only_the_socket_it_names(make_arbiter: MakeArbiter) -> None:
    web, other = _tcp("web"), _tcp("other")
    harness = await make_arbiter(Watcher("w", serve_cmd()), sockets={"web": web,
                                                                      "other": other},
                                 channels=True)
    pid = await ask_pid("127.0.0.1", web.port)
    fds = _fds(pid)
    # stdio, and exactly one more: the web socket (same inode as circusd's).
    assert set(fds) == {0, 1, 2, web.fileno()}
    assert fds[web.fileno()] == _inode(web.fileno())
    assert _inode(other.fileno()) not in fds.values()
    # None of circusd's own fds (ZMQ channels, pipes, epoll) reached the worker.
    ours = {target for fd, target in _fds(os.getpid()).items() if fd != web.fileno()}
    assert not ours & {t for fd, t in fds.items() if fd > 2}
    assert harness.watcher("w").pids == [pid]


async def test_use_sockets_passes_every_socket(make_arbiter: MakeArbiter) -> None:
    web, other = _tcp("web"), _tcp("other")
    harness = await make_arbiter(Watcher("w", serve_cmd(), use_sockets=True),
                                 sockets={"web": web, "other": other})
    pid = await ask_pid("127.0.0.1", web.port)
    fds = _fds(pid)
    assert {web.fileno(), other.fileno()} <= set(fds)
    assert fds[other.fileno()] == _inode(other.fileno())
    assert harness.watcher("w").pids == [pid]


async def test_stdin_socket_is_fd_zero(make_arbiter: MakeArbiter) -> None:
    web = _tcp("web")
    harness = await make_arbiter(Watcher("w", serve_stdin_cmd(), stdin_socket="web"),
                                 sockets={"web": web})
    pid = await ask_pid("127.0.0.1", web.port)
    assert _fds(pid)[0] == _inode(web.fileno())
    assert harness.watcher("w").pids == [pid]


async def test_unknown_stdin_socket_fails_the_spawn(make_arbiter: MakeArbiter) -> None:
    watcher = Watcher("w", serve_stdin_cmd(), stdin_socket="nope", max_retry=0)
    harness = await make_arbiter(watcher, sockets={"web": _tcp("web")}, start=False)
    await harness.arbiter.start()
    await apoll(lambda: watcher.status() == "stopped")
    assert watcher.pids == []


async def test_listsockets_reply(make_arbiter: MakeArbiter, tmp_path: Any) -> None:
    from circus.client import AsyncCircusClient

    web = CircusSocket(name="Web", host="127.0.0.1", port=0, backlog=12)
    unix = CircusSocket(name="local", path=str(tmp_path / "l.sock"))
    harness = await make_arbiter(sockets=[web, unix], channels=True)
    async with AsyncCircusClient(endpoint=harness.arbiter.endpoint, timeout=5) as client:
        reply = await client.call("listsockets")
    entries: list[dict[str, Any]] = sorted([
        {"fd": web.fileno(), "name": "web", "backlog": 12, "host": "127.0.0.1",
         "port": web.port},
        {"fd": unix.fileno(), "name": "local", "backlog": 2048, "path": str(tmp_path / "l.sock")},
    ], key=lambda e: int(e["fd"]))
    assert reply["sockets"] == entries
