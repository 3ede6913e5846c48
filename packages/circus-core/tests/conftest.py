"""Shared test helpers: tiny child programs, polling, leak checks, a running arbiter."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psutil
import pytest
from circus.arbiter import Arbiter
from circus.watcher import Watcher

PYTHON = sys.executable


def python_cmd(code: str) -> str:
    """A watcher ``cmd`` running ``code`` with this interpreter (``python -c``)."""
    return f"{shlex.quote(PYTHON)} -u -c {shlex.quote(code)}"


def poll(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Wait until ``predicate()`` is truthy (returning it); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


async def apoll(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.005
) -> Any:
    """Async ``poll``: waits on the loop so the arbiter keeps running."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await asyncio.sleep(interval)


def descendants() -> list[psutil.Process]:
    """Every live descendant of the test process (zombies included)."""
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def pid_exists_not_zombie(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Every test ends with no child, zombie or fd leaked."""
    before_children = {p.pid for p in descendants()}
    before_fds = set(os.listdir("/proc/self/fd"))
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [p for p in descendants() if p.pid not in before_children]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    for proc in leaked:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not leaked, f"test left child processes behind: {leaked}"
    deadline = time.monotonic() + 2
    while True:
        extra = {fd for fd in set(os.listdir("/proc/self/fd")) - before_fds if _is_leak(fd)}
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not extra, f"test leaked fds: {_describe_fds(extra)}"


def _is_leak(fd: str) -> bool:
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    # The event loop's own epoll/eventfd/self-pipe belong to pytest-managed loops.
    return not target.startswith(("anon_inode:[eventpoll]", "anon_inode:[eventfd]"))


def _describe_fds(fds: set[str]) -> list[str]:
    out = []
    for fd in sorted(fds):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            out.append(fd)
    return out


class ArbiterHarness:
    """An arbiter running on the test's loop, with every event recorded."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.events: list[tuple[str, dict[str, Any]]] = []
        arbiter.events.subscribe(lambda topic, payload: self.events.append((topic, payload)))

    def topics(self, suffix: str = "") -> list[str]:
        """Recorded topics, optionally only those ending with ``suffix``."""
        return [t for t, _ in self.events if t.endswith(suffix)]

    def watcher(self, name: str) -> Watcher:
        return self.arbiter.get_watcher(name)


@pytest.fixture
async def make_arbiter() -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await make_arbiter(watcher, ...)`` starts an arbiter; stopped at teardown."""
    started: list[Arbiter] = []

    async def factory(*watchers: Watcher, start: bool = True, **options: Any) -> ArbiterHarness:
        arbiter = Arbiter(list(watchers), loop=asyncio.get_running_loop(), reap_orphans=True,
                          **options)
        harness = ArbiterHarness(arbiter)
        started.append(arbiter)
        if start:
            await arbiter.start()
        return harness

    yield factory
    for arbiter in started:
        await arbiter.stop()
        if arbiter._reaper is not None:
            arbiter._reaper.close()
