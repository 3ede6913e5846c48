"""``ipc://`` endpoints are mode 0600: another Unix user cannot connect to them.

The tests run as root; the other user is ``nobody``, who tries to connect from
a child process that setuid()s to it before running (``subprocess``'s
``user=``). A socket file the test makes world-writable in the same directory
is the control: ``nobody`` connects to that one, so a refusal comes from the
endpoint's mode and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
from pathlib import Path

# Plain stdlib and the system interpreter: nobody may not read the test venv.
CONNECT = """\
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.connect(sys.argv[1])
except PermissionError:
    print("denied")
else:
    print("connected")
"""


def _python() -> str:
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


async def connect_as_nobody(path: str) -> str:
    """``connected`` or ``denied``: what ``nobody`` gets connecting to ``path``."""
    result = await asyncio.to_thread(
        subprocess.run, [_python(), "-c", CONNECT, path], user="nobody", group="nogroup",
        capture_output=True, text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _control_socket(directory: Path) -> socket.socket:
    """A listening unix socket anyone may connect to: the test's control."""
    path = directory / "open"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen()
    path.chmod(0o666)
    return sock


async def test_another_user_cannot_connect_to_the_ipc_endpoints(make_arbiter, ipc_dir):
    ipc_dir.chmod(0o755)  # reachable by nobody: only the socket modes decide
    harness = await make_arbiter(channels=True)
    control = _control_socket(ipc_dir)
    try:
        assert await connect_as_nobody(str(ipc_dir / "open")) == "connected"
        for endpoint in (harness.arbiter.endpoint, harness.arbiter.pubsub_endpoint):
            path = endpoint[len("ipc://"):]
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, endpoint
            assert await connect_as_nobody(path) == "denied", endpoint
    finally:
        control.close()


async def test_endpoint_owner_may_connect_to_the_control_socket(make_arbiter, ipc_dir):
    ipc_dir.chmod(0o755)
    harness = await make_arbiter(channels=True, endpoint_owner="nobody")
    path = harness.arbiter.endpoint[len("ipc://"):]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert await connect_as_nobody(path) == "connected"
    # The event channel stays circusd's user's.
    assert await connect_as_nobody(harness.arbiter.pubsub_endpoint[len("ipc://"):]) == "denied"


async def test_binding_an_ipc_endpoint_leaves_the_umask_as_it_was(make_arbiter):
    before = os.umask(0o022)
    os.umask(before)
    await make_arbiter(channels=True)
    after = os.umask(0o022)
    os.umask(after)
    assert after == before
