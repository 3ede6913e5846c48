"""Fixtures for the stream tests: child processes writing into real pipes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

Spawn = Callable[[str], "tuple[subprocess.Popen[bytes], int]"]
Eventually = Callable[[Callable[[], bool], float], Awaitable[None]]


@pytest.fixture
def spawn_python() -> Iterator[Spawn]:
    """Start ``python -c code`` with stdout on a new pipe; return (process, read end).

    Every process started is killed and reaped at teardown, so a failing test
    leaves nothing behind. The read end belongs to the test (its PipeReader).
    """
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(code: str) -> tuple[subprocess.Popen[bytes], int]:
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                close_fds=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # only the child may hold the write end, or EOF never comes
        procs.append(proc)
        return proc, read_fd

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)  # yields to the loop so the readers can run


@pytest.fixture
def eventually() -> Eventually:
    """Await until a condition holds, failing after a deadline (no fixed sleeps)."""
    return _eventually
