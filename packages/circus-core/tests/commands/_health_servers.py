"""Tiny servers for the health-check tests: one per process, on a port made from its wid."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

from conftest import PYTHON

# argv: port, seconds to wait before listening, a file that (when it exists) keeps
# it from ever listening. Accepted connections are closed at once.
TCP_SERVER = (
    "import os, socket, sys, time\n"
    "port, delay, never = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]\n"
    "time.sleep(delay)\n"
    "if os.path.exists(never):\n"
    "    time.sleep(600)\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', port))\n"
    "s.listen(64)\n"
    "while True:\n"
    "    s.accept()[0].close()\n"
)

# argv: port, a file holding the status line to answer ("200 OK", "503 Down").
HTTP_SERVER = (
    "import socket, sys\n"
    "port, status_file = int(sys.argv[1]), sys.argv[2]\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', port))\n"
    "s.listen(64)\n"
    "while True:\n"
    "    c = s.accept()[0]\n"
    "    c.recv(4096)\n"
    "    status = open(status_file).read().strip()\n"
    "    c.sendall(('HTTP/1.0 ' + status + '\\r\\n\\r\\nbody says ' + status).encode())\n"
    "    c.close()\n"
)


def port_prefix(wids: int = 9) -> str:
    """A prefix P such that ports P1..P<wids> are free on 127.0.0.1 (for ``P$(circus.wid)``)."""
    for _ in range(200):
        prefix = str(random.randint(2000, 6000))
        if all(_free(int(f"{prefix}{wid}")) for wid in range(1, wids + 1)):
            return prefix
    raise AssertionError("no free port range found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _script(directory: Path, name: str, code: str) -> str:
    # A file rather than python -c: the command also goes into INI files.
    path = directory / name
    path.write_text(code)
    return f"{PYTHON} -u {path}"


def tcp_server(prefix: str, delay: float, never: Path) -> str:
    """The cmd of a TCP server on port ``<prefix><wid>``; never listens while ``never`` exists."""
    script = _script(never.parent, "tcp_server.py", TCP_SERVER)
    return f"{script} {prefix}$(circus.wid) {delay} {never}"


def http_server(prefix: str, status_file: Path) -> str:
    """The cmd of an HTTP server on port ``<prefix><wid>`` answering ``status_file``'s line."""
    script = _script(status_file.parent, "http_server.py", HTTP_SERVER)
    return f"{script} {prefix}$(circus.wid) {status_file}"


def since(start: float) -> float:
    return time.monotonic() - start
