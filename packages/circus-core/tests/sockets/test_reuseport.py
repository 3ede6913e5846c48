"""so_reuseport: one socket per worker on one address; the kernel spreads connections."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

from circus.sockets import CircusSocket
from circus.watcher import Watcher
from conftest import apoll

from ._workers import ask_pid, serve_cmd

MakeArbiter = Callable[..., Any]


def _listening_inodes(pid: int) -> set[str]:
    return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}


async def test_several_workers_answer_on_one_port(make_arbiter: MakeArbiter) -> None:
    web = CircusSocket(name="web", host="127.0.0.1", port=0, so_reuseport=True)
    harness = await make_arbiter(Watcher("w", serve_cmd(), numprocesses=4),
                                 sockets={"web": web})
    watcher = harness.watcher("w")
    await apoll(lambda: len(watcher.pids) == 4)
    # circusd holds a bound placeholder only, never a listening socket.
    assert web.sock is not None
    assert not web.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    answered: set[int] = set()
    for _ in range(200):
        answered.add(await ask_pid("127.0.0.1", web.port))
        if len(answered) > 2:
            break
    assert len(answered) > 1 and answered <= set(watcher.pids)
    # Each worker owns a socket of its own, and circusd kept no copy of them.
    inodes = [_listening_inodes(pid) for pid in watcher.pids]
    owned: set[str] = set().union(*inodes)
    assert all(len(i) == 1 for i in inodes) and len(owned) == 4
    ours = {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}
    assert not ours & owned
    await asyncio.sleep(0)
