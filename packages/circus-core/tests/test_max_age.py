"""max_age replaces a process after max_age (+ up to max_age_variance) seconds; 0 disables it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from circus.watcher import Watcher
from conftest import EventLog, apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


def lifetimes(log: EventLog, name: str) -> list[float]:
    """Seconds from each process's spawn to the stop signal max_age sent it."""
    spawned = {p["process_pid"]: at for at, p in log.of(f"watcher.{name}.spawn")}
    return [at - spawned[p["process_pid"]] for at, p in log.of(f"watcher.{name}.kill")]


async def started(make_arbiter: Callable[..., Any], *watchers: Watcher) -> EventLog:
    harness = await make_arbiter(*watchers, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    return log


async def test_process_is_replaced_after_max_age_plus_variance(
    make_arbiter: Callable[..., Any],
) -> None:
    watcher = Watcher("aging", SLEEPER, numprocesses=2, max_age=0.3, max_age_variance=0.2)
    log = await started(make_arbiter, watcher)
    await apoll(lambda: len(log.times("watcher.aging.kill")) >= 4, timeout=10)
    ages = lifetimes(log, "aging")[:4]
    assert all(0.3 <= age <= 0.5 + 0.1 for age in ages), ages
    # Every expired process was replaced: the count holds and the first pids are gone.
    await apoll(lambda: len(watcher.pids) == 2)
    first = log.pids("watcher.aging.spawn")[:2]
    assert not set(first) & set(watcher.pids)


async def test_zero_variance_replaces_at_max_age(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("exact", SLEEPER, max_age=0.2, max_age_variance=0)
    log = await started(make_arbiter, watcher)
    await apoll(lambda: len(log.times("watcher.exact.kill")) >= 3, timeout=10)
    ages = lifetimes(log, "exact")[:3]
    # Ages run from the spawn event, stamped a little after the start the timer
    # counts from: allow 10 ms below max_age.
    assert all(0.19 <= age <= 0.3 for age in ages), ages
    await apoll(lambda: len(watcher.pids) == 1)


async def test_max_age_zero_never_expires(make_arbiter: Callable[..., Any]) -> None:
    ageless = Watcher("ageless", SLEEPER, max_age=0, max_age_variance=0)
    aging = Watcher("aging", SLEEPER, max_age=0.1, max_age_variance=0)
    log = await started(make_arbiter, ageless, aging)
    original = ageless.pids
    # By the time the other watcher has replaced its process three times...
    await apoll(lambda: len(log.times("watcher.aging.kill")) >= 3, timeout=10)
    # ...the ageless one has not been touched.
    assert ageless.pids == original
    assert log.times("watcher.ageless.kill") == []
    assert log.pids("watcher.ageless.spawn") == original
