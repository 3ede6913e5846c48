"""Real kernels on unix paths or free ports, raw protocol clients, and cleanup.

Every kernel a test starts runs with a unique ``PAPA_TEST_TAG`` in its
environment, which its processes inherit. At teardown the kernel and every
tagged process (each in its own session) are killed and reaped, and the test
fails if any of them is still alive. During each test this process is a child subreaper, so
orphans (daemonized kernels, processes outliving their kernel) are reparented
to it and can be reaped here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture(autouse=True)
def subreaper() -> Iterator[None]:
    """Be a child subreaper for the duration of each server test only.

    Left on, it would also adopt the kernels the client tests start detached,
    and those tests check precisely that a detached kernel is not our child.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

PROMPT = b"\n> "
TS = rb"\d+\.\d+"


def esc(text: str) -> str:
    """Escape spaces the way the protocol wants them."""
    return text.replace(" ", "\\ ")


def child(code: str) -> str:
    """A ``python -c CODE`` command line, escaped for ``make process``."""
    return f"{sys.executable} -c {esc(code)}"


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll ``predicate`` until it returns a true value, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """True if the pid exists and is not a zombie (reaping it if it is ours)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def tagged_pids(tag: str) -> set[int]:
    needle = f"PAPA_TEST_TAG={tag}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.add(int(entry))
    return found


def kernel_children(pid: int) -> set[int]:
    """Pids of the kernel's children (every process it started that still runs)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.update(int(child) for child in text.split())
    return found


class Client:
    """A raw protocol connection."""

    def __init__(self, address, timeout: float = 10.0) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.buf = b""
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(address)
            self.banner = self.read_until(PROMPT)
        except BaseException:
            self.sock.close()
            raise

    def read_until(self, end: bytes, timeout: float = 10.0) -> bytes:
        """Read until the buffer contains ``end``; return everything up to it."""
        deadline = time.monotonic() + timeout
        while end not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError(f"connection closed; got {self.buf!r}")
            self.buf += data
        index = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:index], self.buf[index:]
        return out

    def read_until_any(self, ends: tuple[bytes, ...], timeout: float = 10.0) -> bytes:
        """Read until one of ``ends`` appears; return up to the first one found."""
        deadline = time.monotonic() + timeout
        while True:
            found = [(self.buf.index(e) + len(e)) for e in ends if e in self.buf]
            if found:
                index = min(found)
                out, self.buf = self.buf[:index], self.buf[index:]
                return out
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError(f"connection closed; got {self.buf!r}")
            self.buf += data

    def read_eof(self, timeout: float = 10.0) -> bytes:
        self.sock.settimeout(timeout)
        while data := self.sock.recv(1 << 20):
            self.buf += data
        out, self.buf = self.buf, b""
        return out

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: str | bytes) -> bytes:
        """Send one command line and return its reply, prompt included."""
        raw = line.encode() if isinstance(line, str) else line
        self.send(raw + b"\n")
        return self.read_until(PROMPT)

    def cmd_watch(self, line: str) -> bytes:
        """Send a command that starts a watch; return up to the first batch end."""
        self.send(line.encode() + b"\n")
        return self.read_until(b"] ")

    def ok(self, line: str) -> str:
        """Run a command that must succeed; return the reply text."""
        reply = self.cmd(line)
        assert not reply.startswith(b"Error"), reply
        return reply[: -len(PROMPT)].decode()

    def close(self) -> None:
        self.sock.close()


class Kernel:
    """One papa kernel process started for a test."""

    def __init__(self, tmp_path: Path, tag: str) -> None:
        self.tmp_path = tmp_path
        self.tag = tag
        self.log = tmp_path / "kernel.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.address: str | tuple[str, int] = ""
        self.pid = 0
        self.clients: list[Client] = []
        # Unix socket paths are limited to 108 bytes: keep them short.
        self.short = Path(tempfile.mkdtemp(prefix="pk-"))

    def env(self, **extra: str) -> dict[str, str]:
        # The kernel imports papa from the installed wheel, never from src/.
        return dict(os.environ, PAPA_TEST_TAG=self.tag, **extra)

    def start(self, *, tcp: bool = False, args=(), **env: str) -> Kernel:
        if tcp:
            port = free_port()
            self.address = ("127.0.0.1", port)
            where = ["-p", str(port)]
        else:
            self.address = str(self.short / "papa.sock")
            where = ["-u", self.address]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "papa.server", *where, *args],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env(**env),
                cwd=self.tmp_path,
            )
        self.pid = self.proc.pid
        wait_for(self._connectable, what="kernel to listen")
        return self

    def _connectable(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"kernel exited: {self.log.read_text()}")
        try:
            Client(self.address, timeout=2).close()
        except OSError:
            return False
        return True

    def client(self) -> Client:
        conn = Client(self.address)
        self.clients.append(conn)
        return conn

    def stop(self) -> None:
        """Kill the kernel and every process it started; check nothing remains."""
        for conn in self.clients:
            conn.close()
        # The kernel's own children too: one that is just finishing its exec
        # can show an empty environment, and so no tag, for a moment.
        pids = tagged_pids(self.tag) | kernel_children(self.pid)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(10)
        for pid in pids | tagged_pids(self.tag):
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)
        wait_for(
            lambda: not any(alive(p) for p in pids | tagged_pids(self.tag)),
            what="test processes to be gone",
        )
        shutil.rmtree(self.short, ignore_errors=True)


@pytest.fixture
def make_kernel(tmp_path: Path) -> Iterator[Callable[..., Kernel]]:
    kernels: list[Kernel] = []

    def factory(**kwargs) -> Kernel:
        kernel = Kernel(tmp_path, uuid.uuid4().hex)
        kernels.append(kernel)
        return kernel.start(**kwargs) if kwargs.pop("start", True) else kernel

    yield factory
    for kernel in kernels:
        kernel.stop()
    log = "".join(k.log.read_text() for k in kernels if k.log.exists())
    assert "Traceback" not in log, log


@pytest.fixture
def kernel(make_kernel: Callable[..., Kernel]) -> Kernel:
    return make_kernel()


@pytest.fixture
def client(kernel: Kernel) -> Iterator[Client]:
    conn = kernel.client()
    yield conn
    conn.close()


def field(line: str | bytes, key: str) -> str:
    text = line.decode() if isinstance(line, bytes) else line
    match = re.search(rf"(?:^| ){key}=(\S+)", text)
    assert match, f"{key} not in {text!r}"
    return match.group(1)


NOTHING_LEFT = b"Nothing left to watch\n> "


def drain_watch(client: Client, ack: bytes = b"\n", timeout: float = 10.0) -> bytes:
    """Ack batch after batch until the watch ends; return the batches joined."""
    batches = b""
    while True:
        client.send(ack)
        chunk = client.read_until_any((b"\n] ", NOTHING_LEFT), timeout)
        if chunk == NOTHING_LEFT:
            return batches
        assert chunk.endswith(b"\n] "), chunk
        batches += chunk
