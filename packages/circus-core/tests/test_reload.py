"""Reload flavours: overlap-then-retire, sequential, stop+start, and SIGHUP in place."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circus.watcher import Watcher
from conftest import EventLog, apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


async def started(make_arbiter: Callable[..., Any], *watchers: Watcher) -> EventLog:
    harness = await make_arbiter(*watchers, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    return log


def events(log: EventLog, name: str, since: int = 0) -> list[tuple[str, int | None]]:
    """(event, pid) for watcher ``name`` from entry ``since`` on."""
    out = []
    for _, topic, payload in log.entries[since:]:
        _, watcher, event = topic.split(".")
        if watcher == name:
            out.append((event, payload.get("process_pid")))
    return out


def most_alive(initial: int, history: list[tuple[str, int | None]]) -> int:
    """The highest number of live processes along ``history`` (spawn +1, reap -1)."""
    alive = peak = initial
    for event, _ in history:
        alive += {"spawn": 1, "reap": -1}.get(event, 0)
        peak = max(peak, alive)
    return peak


async def test_graceful_reload_overlaps_then_retires_the_old(
    make_arbiter: Callable[..., Any],
) -> None:
    watcher = Watcher("web", SLEEPER, numprocesses=3)
    log = await started(make_arbiter, watcher)
    old = watcher.pids
    mark = len(log.entries)
    result = await watcher.reload()

    history = events(log, "web", mark)
    kinds = [event for event, _ in history]
    # Every new process runs before the first old one is told to stop.
    assert kinds[:3] == ["spawn"] * 3
    assert most_alive(3, history) == 6
    assert sorted(pid or 0 for event, pid in history if event == "kill") == sorted(old)
    assert kinds[-1] == "reload"
    assert not set(old) & set(watcher.pids)
    assert len(watcher.pids) == 3
    assert sorted(result["stopped"]) == sorted(old)
    assert sorted(result["started"]) == sorted(watcher.pids)


async def test_sequential_reload_replaces_one_at_a_time(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("web", SLEEPER, numprocesses=3)
    log = await started(make_arbiter, watcher)
    old = watcher.pids
    mark = len(log.entries)
    await watcher.reload(sequential=True)

    history = events(log, "web", mark)
    assert [event for event, _ in history] == ["kill", "reap", "spawn"] * 3 + ["reload"]
    # Oldest first, each one gone before its replacement starts.
    assert [pid for event, pid in history if event == "kill"] == old
    assert most_alive(3, history) == 3
    assert not set(old) & set(watcher.pids)
    assert len(watcher.pids) == 3


async def test_non_graceful_reload_is_stop_then_start(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("web", SLEEPER, numprocesses=2)
    log = await started(make_arbiter, watcher)
    old = watcher.pids
    mark = len(log.entries)
    await watcher.reload(graceful=False)

    kinds = [event for event, _ in events(log, "web", mark)]
    assert kinds == ["kill", "kill", "reap", "reap", "stop", "spawn", "spawn", "start"]
    assert not set(old) & set(watcher.pids)
    assert watcher.status() == "active"


async def test_send_hup_signals_in_place(make_arbiter: Callable[..., Any], tmp_path: Path) -> None:
    code = (
        "import os, signal, time\n"
        f"base = os.path.join({str(tmp_path)!r}, str(os.getpid()))\n"
        "signal.signal(signal.SIGHUP, lambda *a: open(base + '.hup', 'w').close())\n"
        "open(base + '.ready', 'w').close()\n"
        "while True:\n"
        "    time.sleep(60)\n"
    )
    watcher = Watcher("hup", python_cmd(code), numprocesses=2, send_hup=True)
    log = await started(make_arbiter, watcher)
    old = watcher.pids
    await apoll(lambda: all((tmp_path / f"{pid}.ready").exists() for pid in old))
    mark = len(log.entries)
    await watcher.reload()

    await apoll(lambda: all((tmp_path / f"{pid}.hup").exists() for pid in old), timeout=5)
    assert watcher.pids == old
    assert [event for event, _ in events(log, "hup", mark)] == ["reload"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        f"{pid}.{suffix}" for pid in old for suffix in ("hup", "ready")
    )


async def test_reload_of_a_stopped_watcher_starts_it(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("idle", SLEEPER, autostart=False)
    log = await started(make_arbiter, watcher)
    await watcher.reload()
    assert watcher.status() == "active"
    assert len(watcher.pids) == 1
    assert log.times("watcher.idle.start")


async def test_arbiter_reload_reloads_every_watcher(make_arbiter: Callable[..., Any]) -> None:
    first = Watcher("first", SLEEPER, priority=1)
    second = Watcher("second", SLEEPER)
    harness = await make_arbiter(first, second, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    old = first.pids + second.pids
    await harness.arbiter.reload()
    reloads = [t for _, t, _ in log.entries if t.endswith(".reload")]
    assert reloads == ["watcher.first.reload", "watcher.second.reload"]
    assert not set(old) & set(first.pids + second.pids)
