"""A spawn failing with EMFILE is circusd's shortage: refused, not counted, retried.

The arbiter runs in this test process, whose file descriptors the test uses
up (a watcher without output pipes costs circusd no fd per process, so only
the spawn itself, with its error pipe, needs one). The refused spawns must
not count toward ``max_retry`` (the watcher would give up and stop), and once
the test frees the fds the retry (every second) starts them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import time
from collections.abc import Iterator

import pytest
from circus.watcher import Watcher
from conftest import apoll


@contextlib.contextmanager
def fds_used_up() -> Iterator[list[int]]:
    """Open /dev/null until EMFILE under a soft limit just above what is open; undo after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
    held: list[int] = []
    try:
        with contextlib.suppress(OSError):
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        yield held
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_emfile_refuses_the_spawn_without_giving_up_and_retries(
        make_arbiter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="circus")
    watcher = Watcher("lean", "sleep 60", numprocesses=1, max_retry=1)
    harness = await make_arbiter(watcher)
    events: list[tuple[str, dict[str, object]]] = []
    harness.arbiter.events.subscribe(lambda topic, payload: events.append((topic, payload)))
    with fds_used_up() as held:
        count = await watcher.incr(4)
        refused_with = watcher.fd_shortage
        running = len(watcher.pids)
        # Two retry passes go by while the fds are still used up.
        began = time.monotonic()
        await apoll(lambda: time.monotonic() - began > 2.2, timeout=5)
        still = len(watcher.pids)
        state = watcher.status()
        freed = len(held)
    freed_at = time.monotonic()
    await apoll(lambda: len(watcher.pids) == 5, timeout=5)
    recovery = time.monotonic() - freed_at
    refusals = [r for r in caplog.records if "out of file descriptors" in r.getMessage()]
    print(f"\nEMFILE: {freed} fds held, {running} running of {count} asked, refused with "
          f"{refused_with!r}; {len(refusals)} log line(s); recovered in {recovery:.3f} s")
    assert count == 5 and running == still == 1
    assert refused_with is not None and refused_with.startswith(
        "circusd is out of file descriptors (Too many open files, RLIMIT_NOFILE ")
    assert state == "active", "the refusals counted toward max_retry"
    assert len(refusals) == 1
    assert [t for t, _ in events if t.endswith(".spawn_refused")] == ["watcher.lean.spawn_refused"]
    assert watcher.fd_shortage is None
    assert any("spawning resumed" in r.getMessage() for r in caplog.records)
    assert recovery < 2.0
