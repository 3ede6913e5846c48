"""WatchPump against a real papa kernel: a batch is acknowledged only once written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import papa
import psutil
import pytest
from circus._papa.pump import WatchPump
from conftest import apoll, poll

# Prints one line, then a second one once the file argv[1] exists.
TWO_LINES = (
    "import os, sys, time\n"
    "os.write(1, b'one\\n')\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.01)\n"
    "os.write(1, b'two\\n')\n"
)


class Client:
    """A WatchClient recording what arrives; it acknowledges only when told to."""

    def __init__(self, auto_ack: bool) -> None:
        self.auto_ack = auto_ack
        self.out: list[bytes] = []
        self.closed: list[int] = []
        self.lost_reasons: list[str] = []
        self.pending: list[Callable[[], None]] = []

    def batch(self, out: list[Any], err: list[Any], closed: list[Any], handovers: list[Any],
              ack: Callable[[], None]) -> None:
        self.out += [record.data for record in out]
        self.closed += [record.data for record in closed]
        if self.auto_ack:
            ack()
        else:
            self.pending.append(ack)

    def ended(self) -> None:
        """Nothing to record."""

    def lost(self, reason: str) -> None:
        self.lost_reasons.append(reason)


@pytest.fixture
def kernel() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    directory = tempfile.mkdtemp(prefix="pump-")
    path = os.path.join(directory, "papa.sock")
    process = subprocess.Popen([sys.executable, "-m", "papa.server", "-u", path],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)

    def listening() -> bool:
        # A raw probe: papa's client would start a kernel of its own.
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
            except OSError:
                return False
            return True

    poll(listening)
    try:
        yield process, path
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory)


@pytest.fixture
async def pump() -> AsyncIterator[WatchPump]:
    pump = WatchPump(asyncio.get_running_loop())
    try:
        yield pump
    finally:
        await pump.stop()


def start_two_lines(path: str, go: Path) -> tuple[papa.Papa, int]:
    # A script file: papa's protocol sends a newline inside an argument as a space.
    script = go.with_name("two_lines.py")
    script.write_text(TWO_LINES)
    client = papa.Papa(path, connection_timeout=5)
    details = client.make_process("t.1", sys.executable, args=[str(script), str(go)])
    return client, int(details["pid"])


def kill(pid: int) -> None:
    """SIGKILL papa's process; reap it if it was re-parented to us (a subreaper)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


async def test_papa_sends_nothing_more_until_the_loop_has_written_the_batch(
        kernel: tuple[subprocess.Popen[bytes], str], pump: WatchPump, tmp_path: Path) -> None:
    _, path = kernel
    client, pid = start_two_lines(path, tmp_path / "go")
    try:
        reader = Client(auto_ack=False)
        pump.add(client.watch_processes("t.1"), reader)
        await apoll(lambda: b"".join(reader.out) == b"one\n")
        (tmp_path / "go").touch()
        await apoll(lambda: not psutil.pid_exists(pid) or
                    psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
        await asyncio.sleep(0.1)  # time for a batch that must not come
        assert b"".join(reader.out) == b"one\n"
        reader.pending.pop()()  # written: now papa may delete it and send the rest
        await apoll(lambda: b"".join(reader.out) == b"one\ntwo\n")
        detaching = asyncio.ensure_future(pump.detach(reader))
        await asyncio.sleep(0.05)
        assert not detaching.done()  # a detach waits for the batch being written
        while reader.pending:
            reader.pending.pop()()
        await detaching
        assert pump.watches == 0
    finally:
        kill(pid)
        client.close()


async def test_everything_once_then_the_exit_code(
        kernel: tuple[subprocess.Popen[bytes], str], pump: WatchPump, tmp_path: Path) -> None:
    _, path = kernel
    client, pid = start_two_lines(path, tmp_path / "go")
    try:
        reader = Client(auto_ack=True)
        pump.add(client.watch_processes("t.1"), reader)
        await apoll(lambda: b"".join(reader.out) == b"one\n")
        (tmp_path / "go").touch()
        await apoll(lambda: reader.closed == [0])
        assert b"".join(reader.out) == b"one\ntwo\n"
        await apoll(lambda: pump.watches == 0)  # "Nothing left to watch" ended it
    finally:
        kill(pid)
        client.close()


async def test_a_dead_kernel_is_reported_as_lost(
        kernel: tuple[subprocess.Popen[bytes], str], pump: WatchPump, tmp_path: Path) -> None:
    process, path = kernel
    client, pid = start_two_lines(path, tmp_path / "go")
    try:
        reader = Client(auto_ack=True)
        pump.add(client.watch_processes("t.1"), reader)
        await apoll(lambda: b"".join(reader.out) == b"one\n")
        process.kill()
        await apoll(lambda: reader.lost_reasons)
        assert pump.watches == 0
    finally:
        kill(pid)
        client.close()
