"""$(circus.wid) is the lowest worker id not held by a live process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import psutil
from circus.watcher import Watcher
from conftest import apoll, python_cmd

# The wid lands in argv, where psutil reads it back from the running child.
WORKER = python_cmd("import time; time.sleep(60)") + " --wid=$(circus.wid)"


async def wids(watcher: Watcher) -> dict[int, int]:
    """pid -> wid as each live child's command line shows it."""

    def read() -> dict[int, int] | None:
        out = {}
        for pid in watcher.pids:
            argv = psutil.Process(pid).cmdline()
            if not argv:
                return None  # the kernel is still finishing the exec
            assert argv[-1].startswith("--wid="), argv
            out[pid] = int(argv[-1].removeprefix("--wid="))
        return out

    result: dict[int, int] = await apoll(read)
    return result


async def replace(watcher: Watcher, victim: int) -> int:
    """Kill ``victim`` and return the pid of its replacement."""
    before = set(watcher.pids)
    os.kill(victim, signal.SIGKILL)
    new = await apoll(lambda: set(watcher.pids) - before)
    assert victim not in watcher.pids
    (pid,) = new
    return int(pid)


async def test_wids_start_at_one(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("workers", WORKER, numprocesses=3)
    await make_arbiter(watcher)
    assert sorted((await wids(watcher)).values()) == [1, 2, 3]
    assert (await wids(watcher)) == {pid: watcher.processes[pid].wid for pid in watcher.pids}


async def test_replacement_takes_the_lowest_free_wid(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("workers", WORKER, numprocesses=3, min_uptime=0)
    await make_arbiter(watcher)
    by_wid = {wid: pid for pid, wid in (await wids(watcher)).items()}

    new = await replace(watcher, by_wid[2])
    assert (await wids(watcher))[new] == 2

    by_wid = {wid: pid for pid, wid in (await wids(watcher)).items()}
    new = await replace(watcher, by_wid[1])
    assert (await wids(watcher))[new] == 1
    assert sorted((await wids(watcher)).values()) == [1, 2, 3]


async def test_overlapping_processes_use_wids_up_to_twice_numprocesses(
    make_arbiter: Callable[..., Any],
) -> None:
    watcher = Watcher("workers", WORKER, numprocesses=3, min_uptime=0)
    await make_arbiter(watcher)
    # A graceful reload runs old and new side by side: the new ones take 4..6.
    await watcher.reload()
    assert sorted((await wids(watcher)).values()) == [4, 5, 6]
    # Once 1..3 are free again they are the lowest, so a replacement reuses them.
    new = await replace(watcher, watcher.pids[0])
    assert (await wids(watcher))[new] == 1
