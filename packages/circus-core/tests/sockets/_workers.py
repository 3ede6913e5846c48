"""Tiny socket servers run as workers, and an async client that asks them who they are."""

from __future__ import annotations

import asyncio

from conftest import python_cmd

# Accepts on the fd in argv[1] and answers each connection with its pid.
# "--once" exits after one answer (an on-demand worker that serves and goes away).
_SERVE = r"""
import os, socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
sock.setblocking(True)
while True:
    conn, _ = sock.accept()
    conn.sendall(str(os.getpid()).encode())
    conn.close()
    if "--once" in sys.argv:
        break
"""

# Answers on its stdin, a listening socket (stdin_socket).
_SERVE_STDIN = r"""
import os, socket
sock = socket.socket(fileno=0)
sock.setblocking(True)
while True:
    conn, _ = sock.accept()
    conn.sendall(str(os.getpid()).encode())
    conn.close()
"""


def serve_cmd(fd_expr: str = "$(circus.sockets.web)", *extra: str) -> str:
    """A watcher cmd whose processes accept on ``fd_expr`` and answer with their pid."""
    return " ".join([str(python_cmd(_SERVE)), fd_expr, *extra])


def serve_script() -> str:
    """The source of the pid-answering server, to write to a file for configs."""
    return _SERVE


def serve_stdin_cmd() -> str:
    """A watcher cmd whose processes accept on their stdin."""
    return str(python_cmd(_SERVE_STDIN))


async def ask_pid(host: str, port: int, timeout: float = 10.0) -> int:
    """Connect, read the worker's pid until EOF (never blocks the arbiter's loop)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(data)
