"""Reaping in circusd (owner) mode: every death seen, orphans reaped, nothing stolen."""

from __future__ import annotations

import os
import signal
import time

import psutil
from circus.watcher import Watcher
from conftest import apoll, pid_exists_not_zombie, poll, python_cmd


async def test_orphaned_grandchild_is_reaped_not_left_a_zombie(tmp_path, make_arbiter):
    """A grandchild that outlives its parent is re-parented to us and reaped."""
    pidfile = tmp_path / "grandchild"
    code = (
        "import os, subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(0.3)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "os._exit(0)\n"
    )
    watcher = Watcher("orphaner", python_cmd(code), respawn=False)
    await make_arbiter(watcher)
    await apoll(lambda: pidfile.exists() and pidfile.read_text())
    grandchild = int(pidfile.read_text())
    # Re-parented to this (subreaper) process, then reaped when it exits.
    await apoll(lambda: not psutil.pid_exists(grandchild), timeout=10)


async def test_hook_subprocess_keeps_its_exit_status(tmp_path, make_arbiter, monkeypatch):
    """A hook's own child is left to the hook: subprocess sees the real exit code."""
    hookdir = os.path.join(os.path.dirname(__file__), "hookmods")
    monkeypatch.syspath_prepend(hookdir)
    import subprocess_hooks

    subprocess_hooks.returncodes.clear()
    watcher = Watcher(
        "hooked", python_cmd("import time; time.sleep(60)"), numprocesses=2,
        hooks={"after_spawn": ("subprocess_hooks.run_child", False)},
    )
    crasher = Watcher("crasher", python_cmd("import sys; sys.exit(1)"), backoff=False,
                      max_retry=-1, numprocesses=3)
    harness = await make_arbiter(crasher, watcher)
    await apoll(lambda: len(subprocess_hooks.returncodes) == 2, timeout=15)
    assert subprocess_hooks.returncodes == [7, 7]
    # Meanwhile our own crashing children were still reaped and respawned.
    assert len(harness.topics("crasher.reap")) > 3


async def test_reaps_children_that_die_in_a_burst(make_arbiter):
    """200 children dying at once are each reaped exactly once, with a reap event."""
    watcher = Watcher("burst", python_cmd("import time; time.sleep(60)"), numprocesses=200,
                      respawn=False, graceful_timeout=5)
    harness = await make_arbiter(watcher)
    pids = list(watcher.processes)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    await apoll(lambda: len(harness.topics("burst.reap")) == 200, timeout=15)
    reaped = [p["process_pid"] for t, p in harness.events if t == "watcher.burst.reap"]
    assert sorted(reaped) == sorted(pids)
    assert not any(pid_exists_not_zombie(pid) for pid in pids)
    # Without respawn the last reap schedules the watcher's stop (a task of its own).
    await apoll(lambda: watcher.status() == "stopped", timeout=15)


def test_sigterm_is_honoured_during_a_sigchld_storm(circusd, tmp_path):
    """Hundreds of children dying per second never make circusd miss SIGTERM or warn."""
    config = circusd.write("storm.ini", """
[watcher:storm]
cmd = /bin/false
numprocesses = 100
backoff = false
max_retry = -1
""")
    proc = circusd.start(str(config))
    # Once the arbiter runs, the storm rages: every child exits at once, forever.
    poll(lambda: "arbiter running" in proc.stdout(), timeout=20)
    started = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
    err = proc.stderr()
    assert "Exception ignored" not in err and "Traceback" not in err, err


async def test_loop_signal_handlers_are_restored(make_arbiter):
    """After the arbiter closes, SIGCHLD and the wakeup fd are as they were."""
    before = signal.getsignal(signal.SIGCHLD)
    harness = await make_arbiter(Watcher("x", python_cmd("import time; time.sleep(60)")))
    await harness.arbiter.stop()
    harness.arbiter.close()
    assert signal.getsignal(signal.SIGCHLD) == before
    assert signal.set_wakeup_fd(-1) == -1
