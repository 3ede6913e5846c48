"""Watchers start highest priority first and stop lowest first, one at a time."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circus.watcher import Watcher
from conftest import EventLog, apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


def slow_to_stop(ready_dir: Path) -> str:
    """A child that needs 50 ms to exit after SIGTERM (so stops can overlap)."""
    cmd: str = python_cmd(
        "import os, signal, sys, time\n"
        "def leave(signum, frame):\n"
        "    time.sleep(0.05)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, leave)\n"
        f"open(os.path.join({str(ready_dir)!r}, str(os.getpid())), 'w').close()\n"
        "time.sleep(60)\n"
    )
    return cmd


def sequence(log: EventLog, *events: str) -> list[str]:
    """``name.event`` for each recorded event among ``events``, in order."""
    out = []
    for _, topic, _ in log.entries:
        _, name, event = topic.split(".")
        if event in events:
            out.append(f"{name}.{event}")
    return out


async def test_start_runs_highest_priority_first_one_at_a_time(
    make_arbiter: Callable[..., Any],
) -> None:
    # warmup_delay stretches each watcher's start, so overlapping starts would interleave.
    watchers = [
        Watcher(name, SLEEPER, numprocesses=2, warmup_delay=0.05, priority=priority)
        for name, priority in (("low", 0), ("high", 10), ("mid", 5))
    ]
    harness = await make_arbiter(*watchers, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    assert sequence(log, "spawn", "start") == [
        "high.spawn", "high.spawn", "high.start",
        "mid.spawn", "mid.spawn", "mid.start",
        "low.spawn", "low.spawn", "low.start",
    ]


async def test_stop_runs_lowest_priority_first_one_at_a_time(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    watchers = []
    for name, priority in (("mid", 5), ("low", 0), ("high", 10)):
        ready_dir = tmp_path / name
        ready_dir.mkdir()
        watchers.append(Watcher(name, slow_to_stop(ready_dir), numprocesses=2,
                                priority=priority, graceful_timeout=5))
    harness = await make_arbiter(*watchers)
    await apoll(lambda: all(len(os.listdir(tmp_path / w.name)) == 2 for w in watchers))
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.stop()
    assert sequence(log, "kill", "reap", "stop") == [
        "low.kill", "low.kill", "low.reap", "low.reap", "low.stop",
        "mid.kill", "mid.kill", "mid.reap", "mid.reap", "mid.stop",
        "high.kill", "high.kill", "high.reap", "high.reap", "high.stop",
    ]


async def test_arbiter_warmup_delay_separates_watchers(make_arbiter: Callable[..., Any]) -> None:
    first = Watcher("first", SLEEPER, priority=1)
    second = Watcher("second", SLEEPER, priority=0)
    harness = await make_arbiter(first, second, start=False, warmup_delay=2.0)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    first_started = log.times("watcher.first.start")[0]
    second_spawned = log.times("watcher.second.spawn")[0]
    assert second_spawned - first_started >= 2.0
    # Within one watcher nothing waits for the warmup delay: its start follows its spawn.
    assert log.times("watcher.first.start")[0] - log.times("watcher.first.spawn")[0] < 2.0
