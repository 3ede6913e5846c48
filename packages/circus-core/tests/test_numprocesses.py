"""incr/decr/set_numprocesses converge, decr retires the oldest, commands on a watcher queue."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import EventLog, apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


async def started(make_arbiter: Callable[..., Any], *watchers: Watcher) -> EventLog:
    harness = await make_arbiter(*watchers, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    return log


async def test_incr_decr_and_set_converge(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("pool", SLEEPER, numprocesses=1)
    await make_arbiter(watcher)
    assert await watcher.incr(2) == 3
    assert len(watcher.pids) == 3
    assert await watcher.decr() == 2
    assert len(watcher.pids) == 2
    assert await watcher.set_numprocesses(5) == 5
    assert len(watcher.pids) == 5
    assert await watcher.set_numprocesses(0) == 0
    assert watcher.pids == []
    assert watcher.status() == "active"
    assert await watcher.incr() == 1
    assert len(watcher.pids) == 1
    with pytest.raises(ValueError):
        await watcher.set_numprocesses(-1)


async def test_decr_retires_the_oldest_processes(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("pool", SLEEPER, numprocesses=2)
    log = await started(make_arbiter, watcher)
    await watcher.incr(2)
    spawn_order = log.pids("watcher.pool.spawn")
    assert len(spawn_order) == 4
    await watcher.decr(2)
    assert sorted(log.pids("watcher.pool.kill")) == sorted(spawn_order[:2])
    assert sorted(watcher.pids) == sorted(spawn_order[2:])


async def test_singleton_refuses_more_than_one(make_arbiter: Callable[..., Any]) -> None:
    with pytest.raises(ValueError):
        Watcher("solo", SLEEPER, singleton=True, numprocesses=2)
    watcher = Watcher("solo", SLEEPER, singleton=True)
    await make_arbiter(watcher)
    pids = watcher.pids
    with pytest.raises(ValueError):
        await watcher.set_numprocesses(2)
    assert await watcher.incr() == 1
    assert watcher.numprocesses == 1
    assert watcher.pids == pids


async def test_warmup_delay_spaces_spawns(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("warm", SLEEPER, numprocesses=3, warmup_delay=0.15)
    log = await started(make_arbiter, watcher)
    spawns = log.times("watcher.warm.spawn")
    assert len(spawns) == 3
    assert all(later - earlier >= 0.15 for earlier, later in itertools.pairwise(spawns)), spawns
    # incr honours it too.
    await watcher.incr(2)
    spawns = log.times("watcher.warm.spawn")
    assert len(spawns) == 5
    assert spawns[4] - spawns[3] >= 0.15


async def test_commands_on_one_watcher_queue_in_order(make_arbiter: Callable[..., Any]) -> None:
    async def slow_hook(**kwargs: Any) -> bool:
        await asyncio.sleep(0.02)
        return True

    # The hook makes every start yield to the loop while holding the watcher.
    watcher = Watcher("queue", SLEEPER, autostart=False, hooks={"before_start": slow_hook})
    log = await started(make_arbiter, watcher)
    first, incr, decr, stop, second = await asyncio.gather(
        watcher.start(), watcher.incr(), watcher.decr(), watcher.stop(), watcher.start()
    )
    # Each result is what that command sees when run alone, in submission order.
    assert len(first["started"]) == 1
    assert incr == 2
    assert decr == 1
    assert stop is None
    assert len(second["started"]) == 1
    assert watcher.status() == "active"
    assert watcher.pids == second["started"]
    assert [t.rsplit(".", 1)[1] for _, t, _ in log.entries
            if t.endswith((".start", ".stop"))] == ["start", "stop", "start"]
    assert len(log.pids("watcher.queue.spawn")) == 3


async def test_set_numprocesses_while_stopped_applies_at_start(
    make_arbiter: Callable[..., Any],
) -> None:
    watcher = Watcher("later", SLEEPER, autostart=False)
    await make_arbiter(watcher)
    assert await watcher.set_numprocesses(3) == 3
    assert watcher.pids == []
    await watcher.start()
    await apoll(lambda: len(watcher.pids) == 3)
