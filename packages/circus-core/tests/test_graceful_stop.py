"""Stopping sends stop_signal to the whole group, escalates to SIGKILL, leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from circus.watcher import Watcher
from conftest import PYTHON, EventLog, apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")


def ignores_term(ready_dir: Path) -> str:
    """A child that ignores SIGTERM and creates ``ready_dir/<pid>`` once it does."""
    cmd: str = python_cmd(
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open(os.path.join({str(ready_dir)!r}, str(os.getpid())), 'w').close()\n"
        "time.sleep(60)"
    )
    return cmd


def ready(ready_dir: Path, count: int) -> bool:
    return len(list(ready_dir.iterdir())) >= count


def group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGQUIT, "QUIT"])
async def test_process_receives_stop_signal(
    make_arbiter: Callable[..., Any], tmp_path: Path, stop_signal: int | str
) -> None:
    got = tmp_path / "got"
    code = (
        "import signal, sys, time\n"
        "def record(signum, frame):\n"
        f"    open({str(got)!r}, 'w').write(signal.Signals(signum).name)\n"
        "    sys.exit(0)\n"
        "for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):\n"
        "    signal.signal(sig, record)\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )
    watcher = Watcher("trap", python_cmd(code), stop_signal=stop_signal, graceful_timeout=5)
    await make_arbiter(watcher)
    await apoll(lambda: (tmp_path / "ready").exists())
    await watcher.stop()
    expected = "SIGQUIT" if isinstance(stop_signal, str) else signal.Signals(stop_signal).name
    assert got.read_text() == expected


async def test_sigkill_after_graceful_timeout(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    watcher = Watcher("stubborn", ignores_term(tmp_path), graceful_timeout=0.3)
    harness = await make_arbiter(watcher, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    pid = watcher.pids[0]
    await apoll(lambda: ready(tmp_path, 1))

    started = time.monotonic()
    await watcher.stop()
    took = time.monotonic() - started
    # Not before graceful_timeout; and not the child's own 60 s either.
    assert 0.3 <= took < 30, took
    assert [p["exit_code"] for _, p in log.of("watcher.stubborn.reap")] == [-signal.SIGKILL]
    # One kill event for stop_signal, one for the SIGKILL escalation.
    assert log.pids("watcher.stubborn.kill") == [pid, pid]
    assert not psutil.pid_exists(pid)


async def test_stop_leaves_no_member_of_the_process_group(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    # sh starts a grandchild that ignores SIGTERM; sh itself dies on SIGTERM.
    grandchild = shlex.join([PYTHON, "-c", (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(tmp_path / 'grandchild')!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )])
    script = f"{grandchild} & wait"
    watcher = Watcher("family", f"/bin/sh -c {shlex.quote(script)}", graceful_timeout=0.5)
    await make_arbiter(watcher)
    pgid = watcher.pids[0]
    marker = tmp_path / "grandchild"
    await apoll(lambda: marker.exists() and marker.read_text())
    grandchild_pid = int(marker.read_text())
    assert os.getpgid(grandchild_pid) == pgid

    started = time.monotonic()
    await watcher.stop()
    # sh dies at once; the grandchild is SIGKILLed when graceful_timeout runs out.
    assert 0.5 <= time.monotonic() - started < 30
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert group_members(pgid) == []
    assert not psutil.pid_exists(grandchild_pid)


async def test_stop_children_reaches_children_that_left_the_group(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    escaped = [PYTHON, "-c", (
        "import os, signal, sys, time\n"
        "os.setsid()\n"
        "def record(signum, frame):\n"
        f"    open({str(tmp_path / 'got')!r}, 'w').write(signal.Signals(signum).name)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, record)\n"
        f"open({str(tmp_path / 'escaped')!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )]
    parent = python_cmd(
        "import subprocess, time\n"
        f"child = subprocess.Popen({escaped!r})\n"
        "time.sleep(60)\n"
    )
    watcher = Watcher("parent", parent, stop_children=True, graceful_timeout=2)
    harness = await make_arbiter(watcher)
    leader = watcher.pids[0]
    marker = tmp_path / "escaped"
    await apoll(lambda: marker.exists() and marker.read_text())
    child = int(marker.read_text())
    assert os.getpgid(child) != leader

    await watcher.stop()
    got = tmp_path / "got"
    # open() creates the file before write() fills it: wait for the content.
    await apoll(lambda: got.exists() and got.read_text(), timeout=5)
    assert got.read_text() == "SIGTERM"
    await apoll(lambda: not psutil.pid_exists(child), timeout=5)
    # One kill event for the process and one for its signalled child, as upstream.
    killed = [p["process_pid"] for t, p in harness.events if t == "watcher.parent.kill"]
    assert killed[:2] == [leader, child]


async def test_fifty_processes_stop_concurrently(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    # Each child takes 1 s to exit after SIGTERM: one by one, 50 would take 50 s.
    # (The speed of a stop is the bench's `stop` row.)
    code = (
        "import os, signal, sys, time\n"
        "def leave(signum, frame):\n"
        "    time.sleep(1)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, leave)\n"
        f"open(os.path.join({str(tmp_path)!r}, str(os.getpid())), 'w').close()\n"
        "time.sleep(60)\n"
    )
    watcher = Watcher("herd", python_cmd(code), numprocesses=50, graceful_timeout=10)
    await make_arbiter(watcher)
    await apoll(lambda: ready(tmp_path, 50), timeout=30)
    started = time.monotonic()
    await watcher.stop()
    took = time.monotonic() - started
    assert took < 25, took
    assert watcher.pids == []


async def test_slow_stop_of_one_watcher_does_not_delay_another(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> None:
    # The slow stop lasts until the test ends it: the other watcher must start
    # while it is still going on, however busy the machine is.
    slow = Watcher("slow", ignores_term(tmp_path), graceful_timeout=60)
    other = Watcher("quick", SLEEPER, autostart=False)
    await make_arbiter(slow, other)
    await apoll(lambda: ready(tmp_path, 1))
    [stubborn] = slow.pids

    stopping = asyncio.create_task(slow.stop())
    await apoll(lambda: slow.status() == "stopping")
    await asyncio.wait_for(other.start(), 30)
    assert other.status() == "active" and len(other.pids) == 1
    assert slow.status() == "stopping"
    os.kill(stubborn, signal.SIGKILL)  # end the slow stop without its 60 s
    await stopping
    assert slow.status() == "stopped"
