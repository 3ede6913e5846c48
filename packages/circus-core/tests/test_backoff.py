"""Crash loops back off exponentially, max_retry gives up, and the daemon stays responsive."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
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


def respawn_gaps(log: EventLog, name: str) -> list[float]:
    """Seconds from each reap to the spawn that replaced it."""
    reaps = log.times(f"watcher.{name}.reap")
    spawns = log.times(f"watcher.{name}.spawn")
    return [spawn - reap for reap, spawn in zip(reaps, spawns[1:], strict=False)]


def start_failures(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if "cannot start" in r.getMessage())


async def test_crash_loop_gaps_grow_exponentially(make_arbiter: Callable[..., Any]) -> None:
    retry_in = 0.05
    watcher = Watcher("crasher", CRASH, retry_in=retry_in, max_retry=-1, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(log.times("watcher.crasher.spawn")) >= 5, timeout=10)
    await watcher.stop()

    gaps = respawn_gaps(log, "crasher")[:4]
    for failures, gap in enumerate(gaps, start=1):
        base = retry_in * 2 ** (failures - 1)
        # Jitter is 0.8-1.2x; the extra 50 ms absorbs a loaded machine's scheduling.
        assert 0.8 * base - 0.005 <= gap <= 1.2 * base + 0.05, (failures, gaps)
    # Each delay at least 0.8*2/1.2 = 1.33 times the previous one, minus noise.
    assert all(later > 1.2 * earlier for earlier, later in itertools.pairwise(gaps[1:])), gaps


async def test_backoff_false_respawns_at_once(make_arbiter: Callable[..., Any]) -> None:
    # retry_in stays at its default 0.5 s: any backoff would show as a gap >= 0.4 s.
    watcher = Watcher("eager", CRASH, backoff=False, max_retry=-1, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: len(log.times("watcher.eager.spawn")) >= 8, timeout=10)
    await watcher.stop()
    gaps = respawn_gaps(log, "eager")[:7]
    assert max(gaps) < 0.1, gaps


async def test_max_retry_stops_after_consecutive_crashes(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("fragile", CRASH, retry_in=0.01, max_retry=2, min_uptime=5)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: watcher.status() == "stopped", timeout=10)
    # max_retry=2: the first start plus two retries, then the watcher gives up.
    assert len(log.times("watcher.fragile.spawn")) == 3
    assert len(log.times("watcher.fragile.reap")) == 3
    assert len(log.times("watcher.fragile.stop")) == 1
    assert watcher.pids == []


async def test_exec_failures_count_as_failed_starts(
    make_arbiter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="circus")
    watcher = Watcher("missing", MISSING, retry_in=0.01, max_retry=2)
    log = await started_with_log(make_arbiter, watcher)
    await apoll(lambda: watcher.status() == "stopped", timeout=10)
    assert start_failures(caplog) == 3
    assert log.times("watcher.missing.spawn") == []


async def test_max_retry_minus_one_retries_forever_with_backoff(
    make_arbiter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="circus")
    watcher = Watcher("hopeful", MISSING, retry_in=0.005, max_retry=-1)
    await started_with_log(make_arbiter, watcher)
    # More attempts than the default max_retry (5) would ever allow.
    await apoll(lambda: start_failures(caplog) >= 8, timeout=10)
    assert watcher.status() == "active"


async def test_endless_exec_failures_keep_the_loop_responsive(
    make_arbiter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="circus")
    # The worst case: no backoff at all, retrying a missing binary forever.
    broken = Watcher("broken", MISSING, backoff=False, max_retry=-1)
    harness = await make_arbiter(broken)
    await apoll(lambda: start_failures(caplog) >= 20, timeout=10)

    lags = []
    for _ in range(50):
        before = time.monotonic()
        await asyncio.sleep(0)
        lags.append(time.monotonic() - before)
    assert max(lags) < 0.05, max(lags)

    before = time.monotonic()
    other = await harness.arbiter.add_watcher("other", SLEEPER, start=True)
    assert time.monotonic() - before < 0.2
    assert len(other.pids) == 1
    before = time.monotonic()
    await other.stop()
    assert time.monotonic() - before < 0.5
    assert other.status() == "stopped"

    failures = start_failures(caplog)
    await apoll(lambda: start_failures(caplog) > failures + 10, timeout=5)
    assert broken.status() == "active"
    before = time.monotonic()
    await broken.stop()
    assert time.monotonic() - before < 0.2
    assert broken.status() == "stopped"


async def test_long_lived_process_resets_the_failure_count(
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
    watcher = Watcher("phoenix", python_cmd(code), retry_in=0.01, max_retry=2, min_uptime=0.3)
    log = await started_with_log(make_arbiter, watcher)
    # Seven starts hold four quick crashes: without the reset, max_retry=2 would stop it.
    await apoll(lambda: len(log.times("watcher.phoenix.spawn")) >= 7, timeout=15)
    assert watcher.status() == "active"
    assert log.times("watcher.phoenix.stop") == []
