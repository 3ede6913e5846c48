"""Crash loops back off per process slot and are never abandoned; max_retry counts
spawns that fail outright; the daemon stays responsive.

Timing figures (respawn-gap slack, event-loop lag) are the bench's business
(`bench/run.py --only backoff,recovery`); these tests check behaviour and order
with deadlines generous enough for a busy machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from circus._watching.crashloop import MAX_BACKOFF, backoff_delay
from circus.watcher import Watcher
from conftest import EventLog, apoll, python_cmd

CRASH = python_cmd("import sys; sys.exit(1)")
SLEEPER = python_cmd("import time; time.sleep(60)")
MISSING = "/nonexistent/circus-test-no-such-binary"


async def started_with_log(make_arbiter: Callable[..., Any], *watchers: Watcher) -> EventLog:
    harness = await make_arbiter(*watchers, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    return log


def backoffs(log: EventLog, name: str) -> list[dict[str, Any]]:
    return [payload for _, payload in log.of(f"watcher.{name}.backoff")]


def start_failures(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if "cannot start" in r.getMessage())


def test_delays_double_with_jitter_below_the_nominal_value_and_cap() -> None:
    for troubles in range(1, 12):
        nominal = min(0.5 * 2 ** (troubles - 1), MAX_BACKOFF)
        assert backoff_delay(0.5, troubles, jitter=False) == nominal
        for _ in range(50):
            assert 0.75 * nominal <= backoff_delay(0.5, troubles) <= nominal
    assert backoff_delay(0.5, 0) == 0.0
    assert backoff_delay(0.5, 40) <= MAX_BACKOFF


async def test_quick_exits_back_off_exponentially_and_announce_it(
    make_arbiter: Callable[..., Any],
) -> None:
    retry_in = 0.02
    watcher = Watcher("crasher", CRASH, retry_in=retry_in, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(backoffs(log, "crasher")) >= 5, timeout=30)
    await watcher.stop()

    events = backoffs(log, "crasher")[:5]
    assert [e["quick_exits"] for e in events] == [1, 2, 3, 4, 5]
    assert {e["wid"] for e in events} == {1}
    assert all(e["spawn_failures"] == 0 for e in events)
    for n, event in enumerate(events, start=1):
        nominal = retry_in * 2 ** (n - 1)
        assert 0.75 * nominal - 0.001 <= event["delay"] <= nominal + 0.001, events
        assert isinstance(event["process_pid"], int)
    # Each respawn waited at least the announced delay after the reap before it.
    reaps = log.times("watcher.crasher.reap")
    spawns = log.times("watcher.crasher.spawn")
    for reap, spawn, event in zip(reaps, spawns[1:], events, strict=False):
        assert spawn - reap >= event["delay"] - 0.002, (reaps, spawns, events)


async def test_a_slot_that_keeps_crashing_is_never_abandoned(
    make_arbiter: Callable[..., Any],
) -> None:
    # max_retry = 2 would have stopped it after three quick exits: it is for
    # spawns that fail outright, not for programs that start and then exit.
    watcher = Watcher("stubborn", CRASH, retry_in=0.005, max_retry=2, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(log.times("watcher.stubborn.spawn")) >= 8, timeout=30)
    assert watcher.status() == "active"
    assert log.times("watcher.stubborn.stop") == []


async def test_other_slots_are_not_punished(make_arbiter: Callable[..., Any]) -> None:
    # wid 1 crashes at once; wids 2 and 3 run.
    code = ("import sys, time\n"
            "if sys.argv[1] == '1':\n"
            "    sys.exit(1)\n"
            "time.sleep(60)\n")
    watcher = Watcher("pool", python_cmd(code), args="$(circus.wid)", numprocesses=3,
                      retry_in=0.02, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(backoffs(log, "pool")) >= 4, timeout=30)
    healthy = {p.wid: p.pid for p in watcher.processes.values() if p.wid != 1}
    await apoll(lambda: len(backoffs(log, "pool")) >= 6, timeout=30)

    assert {e["wid"] for e in backoffs(log, "pool")} == {1}
    assert [e["quick_exits"] for e in backoffs(log, "pool")][:6] == [1, 2, 3, 4, 5, 6]
    # The healthy slots kept their processes the whole time.
    assert {p.wid: p.pid for p in watcher.processes.values() if p.wid != 1} == healthy
    assert sorted(healthy) == [2, 3]


async def test_a_slot_that_stays_up_min_uptime_is_reset(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    # Runs 0 and 1 of every three crash at once, run 2 outlives min_uptime.
    counter = tmp_path / "runs"
    code = (
        "import os, sys, time\n"
        f"path = {str(counter)!r}\n"
        "runs = int(open(path).read()) if os.path.exists(path) else 0\n"
        "open(path, 'w').write(str(runs + 1))\n"
        "if runs % 3 == 2:\n"
        "    time.sleep(0.5)\n"
        "sys.exit(1)\n"
    )
    watcher = Watcher("phoenix", python_cmd(code), retry_in=0.01, min_uptime=0.3)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(backoffs(log, "phoenix")) >= 4, timeout=30)
    # Two quick exits, a long run (no backoff, count cleared), two quick exits.
    assert [e["quick_exits"] for e in backoffs(log, "phoenix")][:4] == [1, 2, 1, 2]
    assert watcher.status() == "active"


async def test_backoff_false_respawns_without_waiting(make_arbiter: Callable[..., Any]) -> None:
    # retry_in = 30: any backoff would stall the respawns for the whole deadline.
    watcher = Watcher("eager", CRASH, backoff=False, retry_in=30, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(log.times("watcher.eager.spawn")) >= 8, timeout=30)
    await watcher.stop()
    assert backoffs(log, "eager") == []


async def test_max_retry_counts_spawns_that_fail_outright(
    make_arbiter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="circus")
    watcher = Watcher("missing", MISSING, retry_in=0.01, max_retry=2)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: watcher.status() == "stopped", timeout=30)
    # The first attempt plus two retries, then the watcher gives up.
    assert start_failures(caplog) == 3
    assert log.times("watcher.missing.spawn") == []
    assert [e["spawn_failures"] for e in backoffs(log, "missing")] == [1, 2]
    assert any("giving up (max_retry=2)" in r.getMessage() for r in caplog.records)


async def test_max_retry_minus_one_retries_failed_spawns_forever(
    make_arbiter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="circus")
    watcher = Watcher("hopeful", MISSING, retry_in=0.005, max_retry=-1)
    await started_with_log(make_arbiter, watcher)
    # More attempts than the default max_retry (5) would ever allow.
    await apoll(lambda: start_failures(caplog) >= 8, timeout=30)
    assert watcher.status() == "active"


async def test_endless_exec_failures_leave_the_daemon_usable(
    make_arbiter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="circus")
    # The worst case: no backoff at all, retrying a missing binary forever.
    broken = Watcher("broken", MISSING, backoff=False, max_retry=-1)
    harness = await make_arbiter(broken)
    await apoll(lambda: start_failures(caplog) >= 20, timeout=30)

    other = await harness.arbiter.add_watcher("other", SLEEPER, start=True)
    assert len(other.pids) == 1
    await other.stop()
    assert other.status() == "stopped"

    failures = start_failures(caplog)
    await apoll(lambda: start_failures(caplog) > failures + 10, timeout=30)
    assert broken.status() == "active"
    await broken.stop()
    assert broken.status() == "stopped"
    assert broken.backoff_slots() == []


async def test_a_pool_recovers_when_its_outage_ends(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    # Twenty workers need a file that is missing for a while; max_retry keeps
    # its default (5). Upstream respawns them forever; so do we, per slot.
    needed = tmp_path / "database-is-up"
    cmd = f"/bin/sh -c 'test -e {needed} || exit 1; exec sleep 60'"
    pool = Watcher("pool", cmd, numprocesses=20, retry_in=0.01, min_uptime=5)
    log = await started_with_log(make_arbiter, pool)
    # Every slot has crashed more often than max_retry would ever allow.
    await apoll(lambda: all(
        sum(1 for e in backoffs(log, "pool") if e["wid"] == wid) >= 7 for wid in range(1, 21)
    ), timeout=60)
    assert pool.status() == "active"

    needed.touch()
    await apoll(lambda: len(pool.processes) == 20 and not pool.backoff_slots(), timeout=60)
    assert sorted(p.wid for p in pool.processes.values()) == list(range(1, 21))
    assert log.times("watcher.pool.stop") == []


async def test_fewer_processes_drop_the_slots_that_wait(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("crashers", CRASH, numprocesses=3, retry_in=30, min_uptime=5)
    await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(watcher.backoff_slots()) == 3, timeout=30)
    assert sorted(s["wid"] for s in watcher.backoff_slots()) == [1, 2, 3]

    await watcher.set_numprocesses(1)
    assert len(watcher.backoff_slots()) == 1
    await watcher.stop()
    assert watcher.backoff_slots() == []
    # Every wid went back to the pool: a new start uses 1..3 again.
    watcher.cmd = SLEEPER
    await watcher.set_numprocesses(3)
    await watcher.start()
    assert sorted(p.wid for p in watcher.processes.values()) == [1, 2, 3]
