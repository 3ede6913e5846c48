"""signal and kill through the dispatcher."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import apoll, pid_exists_not_zombie, python_cmd

from .conftest import fields

# Records every signal it gets in a file named after its pid; ignores TERM.
RECORDER = """
import os, signal, sys, time
out = sys.argv[1]
def note(signum, frame):
    with open(os.path.join(out, str(os.getpid())), "a") as f:
        f.write(signal.Signals(signum).name + "\\n")
for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM):
    signal.signal(s, note)
open(os.path.join(out, str(os.getpid())), "a").close()
time.sleep(60)
"""

# A parent whose child records the signals it gets.
PARENT = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[1]])
time.sleep(60)
"""


def _received(tmp: Path, pid: int) -> list[str]:
    path = tmp / str(pid)
    return path.read_text().split() if path.exists() else []


async def _recorders(make_arbiter: Any, tmp_path: Path, n: int = 2) -> Any:
    watcher = Watcher("rec", python_cmd(RECORDER), args=[str(tmp_path)], numprocesses=n,
                      graceful_timeout=0.3)
    harness = await make_arbiter(watcher)
    await apoll(lambda: all((tmp_path / str(p)).exists() for p in watcher.pids))
    return harness


@pytest.mark.parametrize("signum", [signal.SIGHUP, "1", "HUP", "SIGHUP", "hup"])
async def test_signal_all_processes(make_arbiter: Any, ctl: Any, tmp_path: Path,
                                    signum: Any) -> None:
    harness = await _recorders(make_arbiter, tmp_path)
    before = len(harness.events)
    reply = await ctl(harness)("signal", name="rec", signum=signum, children=False,
                               recursive=False)
    assert fields(reply) == {}
    for pid in harness.watcher("rec").pids:
        await apoll(lambda pid=pid: _received(tmp_path, pid) == ["SIGHUP"])
    assert harness.events[before:] == []  # signal emits no events


async def test_signal_one_pid_as_string(make_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    harness = await _recorders(make_arbiter, tmp_path)
    one, other = harness.watcher("rec").pids
    reply = await ctl(harness)("signal", name="rec", signum="USR1", pid=str(one))
    assert fields(reply) == {}
    await apoll(lambda: _received(tmp_path, one) == ["SIGUSR1"])
    assert _received(tmp_path, other) == []


async def test_signal_children_and_childpid(make_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    watcher = Watcher("fam", python_cmd(PARENT), args=[str(tmp_path), RECORDER],
                      graceful_timeout=0.3)
    harness = await make_arbiter(watcher)
    proc = watcher.processes[watcher.pids[0]]
    child = (await apoll(lambda: proc.children()))[0]
    await apoll(lambda: (tmp_path / str(child)).exists())
    call = ctl(harness)
    reply = await call("signal", name="fam", signum="USR1", children=True)
    assert fields(reply) == {}
    await apoll(lambda: _received(tmp_path, child) == ["SIGUSR1"])
    reply = await call("signal", name="fam", signum="HUP", pid=proc.pid, childpid=child)
    assert fields(reply) == {}
    await apoll(lambda: _received(tmp_path, child) == ["SIGUSR1", "SIGHUP"])
    assert pid_exists_not_zombie(proc.pid)  # the parent was not signalled
    reply = await call("signal", name="fam", signum="USR1", pid=proc.pid, recursive=True)
    assert fields(reply) == {}
    await apoll(lambda: _received(tmp_path, child) == ["SIGUSR1", "SIGHUP", "SIGUSR1"])
    assert watcher.pids == [proc.pid]


async def test_signal_errors(make_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    harness = await _recorders(make_arbiter, tmp_path, n=1)
    call = ctl(harness)
    pid = harness.watcher("rec").pids[0]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"signum": "NOPE"}, "signal invalid: unknown signal 'NOPE'"),
        ({"signum": 99999}, "signal invalid"),
        ({}, "message invalid 'signum' is missing"),
        ({"signum": "HUP", "childpid": 1}, "property 'childpid' needs 'pid'"),
        ({"signum": "HUP", "pid": 1}, "process 1 not found in 'rec'"),
        ({"signum": "HUP", "pid": pid, "childpid": 1}, "process 1 is not a child"),
        ({"signum": "HUP", "pid": "abc"}, "property 'pid'"),
    ]
    for props, reason in cases:
        reply = await call("signal", name="rec", **props)
        assert reply["status"] == "error" and reply["errno"] == 3, props
        assert reply["reason"].startswith(reason), (props, reply["reason"])
    assert _received(tmp_path, pid) == []


async def test_kill_with_string_graceful_timeout(make_arbiter: Any, ctl: Any,
                                                 tmp_path: Path) -> None:
    harness = await _recorders(make_arbiter, tmp_path)
    watcher = harness.watcher("rec")
    watcher.graceful_timeout = 30  # the request's value must be the one used
    victim, other = watcher.pids
    # What circusctl sends: signum as a name, graceful_timeout as a string.
    reply = await ctl(harness)("kill", name="rec", pid=str(victim), signum="TERM",
                               graceful_timeout="0.2", waiting=True)
    assert fields(reply) == {}
    assert not pid_exists_not_zombie(victim)
    assert _received(tmp_path, victim) == ["SIGTERM"]  # ignored, then SIGKILL
    assert other in watcher.pids and len(watcher.pids) == 2  # respawned
    kills = [p["process_pid"] for t, p in harness.events if t == "watcher.rec.kill"]
    assert kills == [victim, victim]
    watcher.graceful_timeout = 0.3  # the recorders ignore SIGTERM: keep teardown short


async def test_kill_all_and_unknown_pid(make_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    harness = await _recorders(make_arbiter, tmp_path)
    watcher = harness.watcher("rec")
    old = watcher.pids
    call = ctl(harness)
    reply = await call("kill", name="rec", pid=1, waiting=True)
    assert fields(reply) == {} and watcher.pids == old
    reply = await call("kill", name="rec", signum=signal.SIGKILL, waiting=True)
    assert fields(reply) == {}
    assert len(watcher.pids) == 2 and not set(watcher.pids) & set(old)
    reply = await call("kill", name="rec", graceful_timeout="soon")
    assert reply["errno"] == 3 and "graceful_timeout" in reply["reason"]
    reply = await call("kill", name="rec", signum="BOGUS")
    assert reply["errno"] == 3 and "BOGUS" in reply["reason"]
    assert os.getpid() not in watcher.pids


async def test_processes_killed_by_a_commanded_signal_are_no_failed_starts(
        make_arbiter: Any, ctl: Any) -> None:
    # Young processes (under min_uptime) killed on command, more often than
    # max_retry allows crashes: the watcher must keep respawning, never give up.
    watcher = Watcher("young", "sleep 60", numprocesses=2, min_uptime=30, max_retry=1)
    harness = await make_arbiter(watcher)
    send = ctl(harness)
    for _ in range(4):
        before = set(watcher.pids)
        assert (await send("signal", name="young", signum="TERM"))["status"] == "ok"
        await apoll(lambda before=before: len(watcher.pids) == 2
                    and not set(watcher.pids) & before)
    assert watcher.status() == "active"
    assert not any(t.endswith(".stop") for t in harness.topics())
