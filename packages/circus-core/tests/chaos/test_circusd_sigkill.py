"""circusd killed with SIGKILL (no papa): no worker, nor a worker's child, lingers.

The orphan guard (circus._watching.orphan_guard) sends SIGTERM to each worker's
process group once circusd is gone, and SIGKILL after its grace (1 s) to the
groups still there. This test is a child subreaper, so the orphans are
re-parented to it, where they can be seen and reaped. Three kinds of worker:
plain ones, ones that fork a child of their own (same process group: the
grandchild must die too), and ones that ignore SIGTERM (killed after the grace).
Run in the foreground and with ``--daemon``.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from conftest import is_orphan_guard

from ._chaos import children, cmdline, report, state

DEADLINE_S = 5.0  # the guard's 1 s grace, plus margin for a loaded machine

WORKER = """\
import os, signal, sys, time
kind, token = sys.argv[1], sys.argv[2]
if kind == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if kind == "forker" and os.fork() == 0:
    os.execvp("sleep", ["sleep", token])  # the grandchild, in its parent's group
with open(f"ready-{os.getpid()}", "w") as handle:
    handle.write(kind)
while True:
    time.sleep(1)
"""
KINDS = {"plain": 4, "forker": 3, "stubborn": 2}


def _with_token(token: str) -> list[int]:
    """Live (non-zombie) processes whose command line carries ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and token.encode() in cmdline(int(entry)) and state(
                int(entry)) not in (None, "Z"):
            found.append(int(entry))
    return found


def _reap_ours() -> None:
    """Reap the zombies re-parented to this test (all but the guards, reaped at teardown)."""
    for pid in children(os.getpid()):
        if state(pid) == "Z" and not is_orphan_guard(pid):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
def test_sigkilled_circusd_leaves_no_worker(circusd, subreaper, tmp_path: Path,
                                            daemon: bool) -> None:
    token = f"3600.{random.randrange(10**8, 10**9)}"
    circusd.write("worker.py", WORKER)
    text = "[circus]\ncheck_delay = 0\n"
    for kind, count in KINDS.items():
        text += (f"\n[watcher:{kind}]\ncmd = {sys.executable} worker.py {kind} {token}\n"
                 f"numprocesses = {count}\ngraceful_timeout = 30\n")
    config = str(circusd.write("circus.ini", text))
    pidfile = tmp_path / "circusd.pid"
    args = ["--daemon", "--pidfile", str(pidfile), config] if daemon else [config]
    proc = circusd.start(*args)
    if daemon:
        assert proc.popen.wait(timeout=30) == 0
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, "no pidfile from circusd --daemon"
            time.sleep(0.02)
        pid = int(pidfile.read_text())
    else:
        pid = proc.pid
    workers = sum(KINDS.values())
    expected = workers + KINDS["forker"]  # each forker's sleep carries the token too
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < workers or len(_with_token(token)) < expected:
        assert time.monotonic() < deadline, "the workers never all started"
        time.sleep(0.02)
    victims = _with_token(token)
    guards = [p for p in children(os.getpid()) if is_orphan_guard(p)]
    assert len(guards) == 1, "circusd's orphan guard is re-parented to this subreaper"
    assert pid not in guards and not any(is_orphan_guard(p) for p in children(pid))

    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    if not daemon:
        proc.popen.wait(timeout=10)
    while state(pid) not in (None, "Z"):
        time.sleep(0.005)
    left = victims
    while left and time.monotonic() - killed_at < DEADLINE_S:
        _reap_ours()
        left = [p for p in victims if state(p) not in (None, "Z")]
        time.sleep(0.01)
    gone_after = time.monotonic() - killed_at
    _reap_ours()
    guard_exited = state(guards[0]) in (None, "Z")
    report(f"circusd_sigkill_{'daemon' if daemon else 'foreground'}", {
        "workers": workers, "grandchildren": KINDS["forker"],
        "sigterm_ignorers": KINDS["stubborn"], "left_after_deadline": len(left),
        "all_gone_s": round(gone_after, 3), "deadline_s": DEADLINE_S,
        "guard_exited": guard_exited,
    })
    assert left == [], f"still running {DEADLINE_S} s after circusd's SIGKILL: {left}"
    # The SIGTERM-ignoring workers waited out the grace: SIGKILL came from the guard.
    assert gone_after >= 0.9
