"""Suite-wide guards: a working Ctrl-C for the programs tests start, no leaked child.

Both live here, above every test directory, so that no test can opt out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Give the programs the tests start a working Ctrl-C.

    A non-interactive shell starts a background job (``make test &``) with
    SIGINT and SIGQUIT ignored, and an ignored signal stays ignored across
    exec: a program a test interrupts would ignore the signal and hang. A
    handled signal is reset to its default on exec, so handling it here gives
    each child what a terminal would.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _children() -> set[int]:
    """Pids of this process's children, zombies included."""
    me = os.getpid()
    try:
        return {int(pid) for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split()}
    except OSError:
        return set()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True  # gone already


def _running_new_children(before: set[int]) -> set[int]:
    """Children that appeared since ``before`` and still run.

    The ones that have exited are reaped instead: they run no more, and a
    zombie adopted as subreaper (papa's server tests) has no Popen to reap it.
    """
    running = set()
    for pid in _children() - before:
        if _zombie(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        else:
            running.add(pid)
    return running


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def _kill_and_reap(pid: int) -> None:
    """SIGKILL ``pid`` (and the process group it leads) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # reaped by its Popen already
        os.waitpid(pid, 0)


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Every test ends with no child process of its own still running.

    What a test leaves behind is killed and reaped here and fails that test
    alone: children that were already there when it began are not its doing,
    so one leak never turns the tests after it into errors.
    """
    before = _children()
    yield
    deadline = time.monotonic() + 5
    while (leaked := _running_new_children(before)) and time.monotonic() < deadline:
        time.sleep(0.02)
    if leaked:
        described = [f"{pid} {_cmdline(pid)}" for pid in sorted(leaked)]
        for pid in leaked:
            _kill_and_reap(pid)
        pytest.fail(f"test left child processes behind (killed): {described}")


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[dict[str, list[object]]]:
    """Everything a test starts (daemons, plugins, sockets), stopped at its end."""
    started: dict[str, list[object]] = {"plugins": [], "daemons": [], "closers": []}
    yield started
    for plugin in started["plugins"]:
        plugin.stop()  # type: ignore[attr-defined]
    for daemon in started["daemons"]:
        daemon.stop()  # type: ignore[attr-defined]
    for close in started["closers"]:
        close()  # type: ignore[operator]
