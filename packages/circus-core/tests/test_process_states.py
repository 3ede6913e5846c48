"""A process's state changes through one checked method: illegal moves are refused.

Legal: running → stopping → exited, and running → exited. Exited is final.
Every real path of the lifecycle goes through it: an exit on its own, a stop by
the watcher, and ``Process.stop`` of a stand-alone process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from circus._base.states import IllegalTransition
from circus.process import Process, ProcessState
from circus.watcher import Watcher
from conftest import apoll, pid_exists_not_zombie, poll, python_cmd

RUNNING, STOPPING, EXITED = ProcessState.RUNNING, ProcessState.STOPPING, ProcessState.EXITED


@pytest.mark.parametrize("path", [[STOPPING, EXITED], [EXITED]], ids=["stopped", "exited"])
def test_legal_moves(path: list[ProcessState]) -> None:
    proc = Process("w", 1, "true", spawn=False)
    assert proc.state is RUNNING
    for state in path:
        proc.move_to(state)
        assert proc.state is state


@pytest.mark.parametrize(("path", "illegal"), [
    ([], RUNNING),
    ([STOPPING], RUNNING),
    ([STOPPING], STOPPING),
    ([EXITED], RUNNING),
    ([EXITED], STOPPING),
    ([EXITED], EXITED),
])
def test_illegal_moves_raise_and_change_nothing(path: list[ProcessState],
                                                illegal: ProcessState) -> None:
    proc = Process("w", 1, "true", spawn=False)
    for state in path:
        proc.move_to(state)
    before = proc.state
    with pytest.raises(IllegalTransition, match=f"cannot go from {before.value} to "
                                                f"{illegal.value}"):
        proc.move_to(illegal)
    assert proc.state is before


def test_the_state_is_not_assignable() -> None:
    proc = Process("w", 1, "true", spawn=False)
    with pytest.raises(AttributeError):
        proc.state = EXITED  # type: ignore[misc]
    assert proc.state is RUNNING


async def test_an_exit_on_its_own_goes_running_to_exited(make_arbiter: Any) -> None:
    watcher = Watcher("w", python_cmd("import time; time.sleep(0.3)"), respawn=False)
    await make_arbiter(watcher)
    [proc] = list(watcher.processes.values())
    assert proc.state is RUNNING
    await apoll(lambda: proc.state is EXITED)
    assert proc.returncode == 0


async def test_a_stop_goes_running_stopping_exited(make_arbiter: Any, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = python_cmd("import signal, sys, time; signal.signal(signal.SIGTERM, "
                          "signal.SIG_IGN); open(sys.argv[1], 'w').close(); time.sleep(60)")
    watcher = Watcher("w", stubborn, args=[str(ready)], graceful_timeout=0.5)
    await make_arbiter(watcher)
    [proc] = list(watcher.processes.values())
    await apoll(ready.exists)
    assert proc.state is RUNNING
    stop = asyncio.ensure_future(watcher.kill_process(proc))
    await apoll(lambda: proc.state is STOPPING)
    await stop
    assert proc.state is EXITED
    assert proc.returncode == -signal.SIGKILL


class _Recording(Process):
    __slots__ = ("moves",)
    moves: list[tuple[ProcessState, ProcessState]]

    def move_to(self, state: ProcessState) -> None:
        self.moves.append((self.state, state))
        super().move_to(state)


def test_process_stop_goes_running_stopping_exited() -> None:
    proc = _Recording("w", 1, "sleep 60", spawn=False)
    proc.moves = []
    proc.spawn()
    proc.stop()
    assert proc.moves == [(RUNNING, STOPPING), (STOPPING, EXITED)]
    assert proc.returncode == -signal.SIGTERM


# The leader exits on SIGTERM; its child stays in the group and ignores SIGTERM.
LEADER_AND_STUBBORN_CHILD = """
import os, signal, subprocess, sys, time
kid = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
kid.stdout.readline()
print(kid.pid, flush=True)
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
time.sleep(60)
"""

# The leader ignores SIGTERM; its child left the group (setsid) and does too.
LEADER_WITH_ESCAPED_CHILD = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
kid = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE,
    start_new_session=True)
kid.stdout.readline()
print(kid.pid, flush=True)
time.sleep(60)
"""


def _first_line(proc: Process) -> int:
    assert proc.stdout is not None
    data = b""
    deadline = time.monotonic() + 10
    while not data.endswith(b"\n"):
        assert time.monotonic() < deadline, "the child never reported its pid"
        data += os.read(proc.stdout, 100)
    return int(data.split()[0])


@pytest.mark.parametrize("script", [LEADER_AND_STUBBORN_CHILD, LEADER_WITH_ESCAPED_CHILD],
                         ids=["group-member", "escaped-descendant"])
def test_process_stop_is_the_watchers_stop(script: str) -> None:
    """Like a watcher's stop: nothing of the process remains when ``stop`` returns."""
    proc = Process("w", 1, python_cmd(script), pipe_stderr=False)
    kid = 0
    try:
        kid = _first_line(proc)
        started = time.monotonic()
        proc.stop()
        # The 1 s grace, then SIGKILL for what is left: the group and the escapees.
        assert 0.9 <= time.monotonic() - started < 10
        assert proc.state is EXITED
        poll(lambda: not pid_exists_not_zombie(kid))
        assert not proc.group_alive()
    finally:
        proc.stop()
        if kid:
            with contextlib.suppress(ChildProcessError):  # re-parented to us as a subreaper
                os.waitpid(kid, 0)
