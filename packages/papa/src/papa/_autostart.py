"""Reaching a kernel: connect, and start one when nothing listens.

Why a lock file: papa 1.0.6 only guarded auto-start with a flag in the client
process, so two processes (or a flag already spent) could start two kernels on
one endpoint. Here every starter takes an exclusive ``fcntl.flock`` on a file
named after the endpoint, then checks again whether a kernel listens before
starting one. flock locks belong to an open file description, so the lock
excludes threads of one process as well as separate processes, and the kernel
drops it if the holder dies. The lock files stay in the temp dir: unlinking a
lock file would let a late starter lock a fresh inode and race again.

The kernel is ours, started as ``python -m papa.server --daemonize`` in a new
session with its stdio on /dev/null; the launcher returns once the kernel
listens. In debug mode the kernel instead runs in the foreground as a child of
the client with ``-d`` (its log goes to the client's stderr), and it is stopped
when the client process exits. papa 1.0.6 ran its debug server in a thread of
the client; ours is a separate program, so a child process is the closest
honest equivalent.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ._wire import BANNER_PREFIX, PROMPT, Connection, Error

log = logging.getLogger("papa.client")

_RETRY_INTERVAL = 0.05


@dataclass(frozen=True)
class Endpoint:
    """Where a kernel listens: TCP 127.0.0.1:``port``, or the unix socket ``path``."""

    port: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        return self.path if self.path is not None else f"127.0.0.1:{self.port}"

    @property
    def kernel_args(self) -> list[str]:
        """The kernel's command-line options selecting this endpoint."""
        return ["-u", self.path] if self.path is not None else ["-p", str(self.port)]

    @property
    def lock_path(self) -> str:
        """The lock file that serialises kernel starts for this endpoint."""
        if self.path is not None:
            key = "path-" + hashlib.sha256(self.path.encode()).hexdigest()[:16]
        else:
            key = f"port-{self.port}"
        return os.path.join(tempfile.gettempdir(), f"papa-{os.getuid()}-{key}.lock")

    def new_socket(self) -> socket.socket:
        family = socket.AF_UNIX if self.path is not None else socket.AF_INET
        return socket.socket(family, socket.SOCK_STREAM)

    @property
    def address(self) -> str | tuple[str, int]:
        return self.path if self.path is not None else ("127.0.0.1", self.port or 0)


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def try_connect(endpoint: Endpoint, deadline: float) -> Connection | None:
    """Connect and read the banner; None if no kernel is (or is still) there.

    A kernel that accepted and then closed without a banner is one that is
    exiting (``exit-if-idle``), which counts as "not there".
    """
    sock = endpoint.new_socket()
    try:
        sock.settimeout(_remaining(deadline))
        sock.connect(endpoint.address)
        connection = Connection(sock)
        banner = connection.read_until(PROMPT)
    except (ConnectionRefusedError, FileNotFoundError, TimeoutError):
        sock.close()
        return None
    except Error:
        sock.close()
        return None
    except OSError as exc:
        sock.close()
        raise Error(f"Cannot connect to papa at {endpoint}: {exc}") from exc
    if not banner.startswith(BANNER_PREFIX):
        sock.close()
        raise Error(f"Something that is not papa listens at {endpoint}")
    sock.settimeout(None)
    return connection


@contextlib.contextmanager
def _start_lock(endpoint: Endpoint, deadline: float) -> Iterator[None]:
    fd = os.open(endpoint.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError from None
                time.sleep(_RETRY_INTERVAL)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


def _start_daemon(endpoint: Endpoint, deadline: float) -> None:
    command = [sys.executable, "-m", "papa.server", "--daemonize", *endpoint.kernel_args]
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd="/",
        timeout=_remaining(deadline),
        check=False,
    )
    if result.returncode != 0:
        raise Error(f"Could not start a papa kernel at {endpoint} (exit status "
                    f"{result.returncode})")
    log.info("started a papa kernel at %s", endpoint)


class _DebugKernels:
    """Foreground kernels started in debug mode, stopped when the client exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[Endpoint, subprocess.Popen[bytes]] = {}
        atexit.register(self.stop_all)

    def start(self, endpoint: Endpoint, deadline: float) -> None:
        command = [sys.executable, "-m", "papa.server", "-d", *endpoint.kernel_args]
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        with self._lock:
            self._children[endpoint] = child
        log.info("started a debug papa kernel at %s (pid %d)", endpoint, child.pid)
        while time.monotonic() < deadline:
            probe = try_connect(endpoint, deadline)
            if probe is not None:
                probe.close()
                return
            if child.poll() is not None:
                self.stop(endpoint)
                raise Error(f"The debug papa kernel at {endpoint} exited with status "
                            f"{child.returncode}")
            time.sleep(_RETRY_INTERVAL)

    def stop(self, endpoint: Endpoint) -> None:
        """Terminate and reap the debug kernel of *endpoint*, if this process started one."""
        with self._lock:
            child = self._children.pop(endpoint, None)
        if child is None:
            return
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def stop_all(self) -> None:
        for endpoint in list(self._children):
            self.stop(endpoint)


debug_kernels = _DebugKernels()


def connect(endpoint: Endpoint, timeout: float, debug: bool = False) -> Connection:
    """Return a connection to the kernel at *endpoint*, starting one if none listens.

    Raises:
        Error: no kernel answered within *timeout* seconds, or starting one failed.
    """
    deadline = time.monotonic() + timeout
    connection = try_connect(endpoint, deadline)
    if connection is not None:
        return connection
    try:
        with _start_lock(endpoint, deadline):
            connection = try_connect(endpoint, deadline)
            if connection is not None:
                return connection
            if debug:
                debug_kernels.start(endpoint, deadline)
            else:
                _start_daemon(endpoint, deadline)
    except (TimeoutError, subprocess.TimeoutExpired):
        pass
    while True:
        connection = try_connect(endpoint, deadline)
        if connection is not None:
            return connection
        if time.monotonic() >= deadline:
            raise Error(f"Could not connect to Papa in {timeout:g} seconds")
        time.sleep(_RETRY_INTERVAL)
