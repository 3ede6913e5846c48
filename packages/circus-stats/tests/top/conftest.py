"""Helpers for circus-top tests: realistic stats messages, a PUB socket, circus-top in a pty."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pyte
import pytest
import zmq

COLUMNS, LINES = 120, 40

Frames = list[bytes]


def process_message(watcher: str, pid: int, cpu: Any = 1.0, mem: Any = 0.5,
                    rss: str = "10.00M", age: Any = 65.0, name: str | None = None,
                    health: Any = None) -> Frames:
    """A ``stat.<watcher>.<pid>`` message shaped like circusd-stats's (``health`` if given)."""
    created = time.time() - age if isinstance(age, (int, float)) else "N/A"
    info = {
        "pid": pid, "cmdline": "python3", "username": "alice", "nice": 0,
        "mem_info1": rss, "mem_info2": "400.12M", "cpu": cpu, "mem": mem,
        "ctime": "0:01.25", "create_time": created, "age": age,
        "children": [], "subtopic": pid, "name": name,
    }
    if health is not None:
        info["health"] = health
    return [f"stat.{watcher}.{pid}".encode(), json.dumps(info).encode()]


def aggregate_message(watcher: str, pids: list[int], cpu: Any, mem: Any, age: Any) -> Frames:
    """A ``stat.<watcher>`` aggregate message."""
    body = {"pid": pids, "cpu": cpu, "mem": mem, "age": age}
    return [f"stat.{watcher}".encode(), json.dumps(body).encode()]


def socket_message(fd: int, address: str, reads: int) -> Frames:
    """A ``stat.sockets.<fd>`` message."""
    body = {"fd": fd, "subtopic": fd, "reads": reads, "address": address}
    return [f"stat.sockets.{fd}".encode(), json.dumps(body).encode()]


def sockets_total_message(addresses: list[str], reads: int) -> Frames:
    """The ``stat.sockets`` total message."""
    return [b"stat.sockets", json.dumps({"addresses": addresses, "reads": reads}).encode()]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temporary directory: ipc:// paths must stay under ~100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ctop-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Publisher:
    """A PUB socket standing in for circusd-stats."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(endpoint)
        self.messages: list[Frames] = []

    def publish(self) -> None:
        """Send every message in :attr:`messages` once."""
        for frames in self.messages:
            self.socket.send_multipart(frames)

    def close(self) -> None:
        self.socket.close()
        self.context.term()


@pytest.fixture
def publisher(short_dir: Path) -> Iterator[Publisher]:
    pub = Publisher(f"ipc://{short_dir}/stats.sock")
    yield pub
    pub.close()


class Screen(pyte.Screen):
    """pyte's screen plus CSI S / CSI T (scroll up / down), which ncurses uses on xterm."""

    def _margins(self) -> tuple[int, int]:
        return (self.margins.top, self.margins.bottom) if self.margins else (0, self.lines - 1)

    def scroll_up(self, count: int = 1, *args: Any, **kwargs: Any) -> None:
        row = self.cursor.y
        self.cursor.y = self._margins()[1]
        for _ in range(count or 1):
            self.index()
        self.cursor.y = row

    def scroll_down(self, count: int = 1, *args: Any, **kwargs: Any) -> None:
        row = self.cursor.y
        self.cursor.y = self._margins()[0]
        for _ in range(count or 1):
            self.reverse_index()
        self.cursor.y = row


class ByteStream(pyte.ByteStream):
    """A byte stream that routes CSI S and CSI T to :class:`Screen`."""

    csi = {**pyte.ByteStream.csi, "S": "scroll_up", "T": "scroll_down"}


class TopInPty:
    """circus-top running in a pseudo-terminal whose output feeds a pyte screen.

    Every wait republishes the publisher's messages about every 0.2 s, since a
    SUB socket misses what was sent before it joined.
    """

    def __init__(self, args: list[str], publisher: Publisher | None,
                 columns: int = COLUMNS, lines: int = LINES, term: str = "xterm") -> None:
        self.publisher = publisher
        self.screen = Screen(columns, lines)
        self.stream = ByteStream(self.screen)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {**os.environ, "TERM": term, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        env.pop("ESCDELAY", None)
        # A session of its own with the pty as controlling terminal, so ^C sends SIGINT.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "circus.top", *args],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self._next_publish = 0.0
        self.raw = bytearray()

    def text(self) -> str:
        """The screen as lines joined by newlines."""
        return "\n".join(self.screen.display)

    def _pump(self, wait: float) -> None:
        now = time.monotonic()
        if self.publisher is not None and now >= self._next_publish:
            self.publisher.publish()
            self._next_publish = now + 0.2
        readable, _, _ = select.select([self.master], [], [], wait)
        if readable:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO once the child closed the terminal
                data = b""
            self.raw.extend(data)
            self.stream.feed(data)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """Pump output until ``predicate(screen text)`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self._pump(0.05)
            text = self.text()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the screen shows:\n{text}")

    def wait_text(self, needle: str, timeout: float = 30.0) -> str:
        """Wait until ``needle`` is on screen."""
        return self.wait_for(lambda text: needle in text, timeout)

    def terminal_restored(self) -> bool:
        """Whether the tty is back in line mode with echo and xterm's normal screen is shown."""
        lflag = termios.tcgetattr(self.master)[3]
        canonical = bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)
        return canonical and self.raw.rfind(b"\x1b[?1049l") > self.raw.rfind(b"\x1b[?1049h")

    def resize(self, columns: int, lines: int) -> None:
        """Resize the terminal; the kernel sends circus-top SIGWINCH."""
        self.screen.resize(lines, columns)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Pump output until circus-top exits; return its exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"circus-top still running; the screen shows:\n{self.text()}")
            self._pump(0.05)
        # What it wrote last (restoring the terminal) may still sit in the pty.
        while True:
            before = len(self.raw)
            self._pump(0)
            if len(self.raw) == before:
                break
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def hang_up(self) -> None:
        """Close the terminal, as when its window is closed."""
        os.close(self.master)
        self.master = -1


@pytest.fixture
def no_children() -> Iterator[None]:
    """Fail the test if it leaves a descendant behind (killed: it fails this test only)."""
    before = set(psutil.Process().children(recursive=True))
    yield
    deadline = time.monotonic() + 5
    while (left := set(psutil.Process().children(recursive=True)) - before) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not left, f"left behind (killed): {left}"


@pytest.fixture
def top(publisher: Publisher, no_children: None) -> Iterator[Callable[..., TopInPty]]:
    """Start circus-top on the publisher's endpoint (extra args allowed) in a 120x40 pty."""
    started: list[TopInPty] = []

    def start(*args: str, columns: int = COLUMNS, lines: int = LINES) -> TopInPty:
        running = TopInPty(["--endpoint", publisher.endpoint, *args], publisher, columns, lines)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()
