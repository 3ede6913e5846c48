"""Dead processes come back at once, every exit is reported, respawn=False is honoured."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circus.watcher import Watcher
from conftest import apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


def term_exits_3(ready_dir: Path) -> str:
    """A child that exits with code 3 on SIGTERM and says when its handler is in place."""
    cmd: str = python_cmd(
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
        f"open(os.path.join({str(ready_dir)!r}, str(os.getpid())), 'w').close()\n"
        "time.sleep(60)"
    )
    return cmd


def reaps(harness: Any, name: str) -> dict[int, int]:
    """pid -> exit_code of every recorded reap of watcher ``name``."""
    return {
        payload["process_pid"]: payload["exit_code"]
        for topic, payload in harness.events
        if topic == f"watcher.{name}.reap"
    }


def spawned(harness: Any, name: str) -> list[int]:
    return [p["process_pid"] for t, p in harness.events if t == f"watcher.{name}.spawn"]


async def test_killed_process_is_replaced_at_once(make_arbiter: Callable[..., Any]) -> None:
    # min_uptime=0: these deaths are not crash loops, so no backoff applies.
    # How fast is the bench's (`respawn`); here a replacement must simply come,
    # every time, well before the 5 s a backoff would start at.
    watcher = Watcher("sleeper", SLEEPER, numprocesses=2, min_uptime=0)
    await make_arbiter(watcher)
    for _ in range(5):
        victim = watcher.pids[0]
        os.kill(victim, signal.SIGKILL)
        await apoll(lambda v=victim: v not in watcher.pids and len(watcher.pids) == 2,
                    timeout=5, interval=0.001)
        assert victim not in watcher.pids
        assert len(watcher.pids) == 2


async def test_every_exit_emits_reap_with_exit_code(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    watcher = Watcher("reaped", term_exits_3(tmp_path), numprocesses=2, min_uptime=0)
    harness = await make_arbiter(watcher)
    victim = watcher.pids[0]
    os.kill(victim, signal.SIGKILL)
    await apoll(lambda: victim in reaps(harness, "reaped"))
    assert reaps(harness, "reaped")[victim] == -signal.SIGKILL
    await apoll(lambda: len(watcher.pids) == 2)
    survivors = watcher.pids
    # Each child installs its SIGTERM handler before circus stops it.
    await apoll(lambda: all((tmp_path / str(pid)).exists() for pid in survivors))
    await watcher.stop()

    recorded = reaps(harness, "reaped")
    for pid in survivors:
        assert recorded[pid] == 3, recorded
    # One reap per spawned process, no more and no fewer.
    reap_topics = [t for t, _ in harness.events if t == "watcher.reaped.reap"]
    assert sorted(recorded) == sorted(spawned(harness, "reaped"))
    assert len(reap_topics) == len(recorded)


async def test_natural_exit_is_reaped_with_its_code(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("quitter", python_cmd("import sys; sys.exit(7)"), respawn=False)
    harness = await make_arbiter(watcher)
    await apoll(lambda: reaps(harness, "quitter"))
    assert list(reaps(harness, "quitter").values()) == [7]


async def test_respawn_false_leaves_dead_processes_dead(make_arbiter: Callable[..., Any]) -> None:
    watcher = Watcher("once", SLEEPER, numprocesses=2, respawn=False, min_uptime=0)
    harness = await make_arbiter(watcher)
    first, second = watcher.pids
    os.kill(first, signal.SIGKILL)
    await apoll(lambda: first in reaps(harness, "once"))
    # A respawn would land within milliseconds; watch for twenty times that.
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        assert watcher.pids == [second]
        await apoll(lambda: True)
    assert watcher.status() == "active"

    os.kill(second, signal.SIGKILL)
    await apoll(lambda: watcher.status() == "stopped", timeout=5)
    assert watcher.pids == []
    assert spawned(harness, "once") == [first, second]
    assert harness.topics(".stop") == ["watcher.once.stop"]
