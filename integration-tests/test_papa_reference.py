"""The reference: what upstream circus 0.17.2 with papa 1.0.6 does across a restart.

0.17.2 is the last upstream release with ``use_papa`` (0.18 removed it); it
runs on Python 3.9, from a throwaway venv (``_papa_reference_run``). Each test
runs upstream's circusd twice on one config against papa 1.0.6's own kernel
and asserts what a user observes, so the file documents the reference that
the comparison table in circus-core's README ("Restarting and upgrading
without downtime") is drawn from:

* ``quit`` stops plain watchers and leaves papa ones running ("left running in
  papa"); the next circusd adopts the same pids ("already running") without
  running ``before_start`` or ``before_spawn``, and output written while it
  was down is replayed into the FileStream, once, in order, stamped with
  papa's time. A papa socket stays in papa.
* A papa process that died while circusd was down is replaced at the next
  start by a new process under the same name (wid), and one that dies while
  circusd runs is replaced too: the "never respawned" bug listed for 0.12.1
  (#946) is gone in 0.17.2. The exit of the one that died while circusd was
  down is not logged.
* ``incr`` is lost: the next circusd goes back to the config's numprocesses,
  adopts every process papa has, then kills the surplus, oldest first.
* ``stop`` kills papa processes by pid and papa forgets them; a ``quit`` that
  leaves papa with no ``circus.*`` process removes the papa sockets and makes
  papa exit.

Observed, not asserted (it depends on timing): upstream writes papa's output
records as they come, not lines. A line its process wrote in two writes (as
``print`` does on an unbuffered stdout: the text, then the newline) can reach
the FileStream as two records and, with ``time_format``, become two stamped
lines, the second one empty. The test's writer therefore writes each line in
one write.

Read from upstream's code, not asserted here: a watcher lists its papa
processes while the config is loaded, before ``papa_endpoint`` is applied, so
that lookup always uses port 20202 (and forks a papa daemon there if none
answers); a tcp ``papa_endpoint`` is ignored (assigned, never called).
"""

from __future__ import annotations

import datetime
import os
import shlex
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _circus_run import PYTHON, SLEEP_CODE, CircusRun, Daemon, alive, closed_after, wait_for
from _papa_reference_run import (
    ReferenceKernel,
    quit_upstream,
    reference_kernel,
    reference_root,
    restart_upstream,
    settled_call,
    start_upstream,
)

# Writes a numbered line every 20 ms, each in one write (see the module's
# docstring); <argv[1]>/<pid> holds the last number.
COUNTER = (
    "import os, sys, time\n"
    "progress = os.path.join(sys.argv[1], str(os.getpid()))\n"
    "i = 0\n"
    "while True:\n"
    "    sys.stdout.write(f'{i}\\n')\n"
    "    sys.stdout.flush()\n"
    "    with open(progress + '.tmp', 'w') as out:\n"
    "        out.write(str(i))\n"
    "    os.replace(progress + '.tmp', progress)\n"
    "    i += 1\n"
    "    time.sleep(0.02)\n"
)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
HOOK_CODE = (
    "import os\n"
    "def mark(watcher, arbiter, hook_name, **kwargs):\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    with open(os.path.join(here, 'hooks.log'), 'a') as log:\n"
    "        log.write(hook_name + '\\n')\n"
    "    return True\n"
)


@pytest.fixture(scope="module")
def reference() -> Path:
    """The circus 0.17.2 + papa 1.0.6 venv (built once per machine)."""
    return reference_root()


@pytest.fixture
def run(tmp_path: Path, reference: Path) -> Iterator[CircusRun]:
    yield from closed_after(CircusRun(tmp_path, reference))


@pytest.fixture
def kernel(run: CircusRun, reference: Path) -> Iterator[ReferenceKernel]:
    with reference_kernel(run, reference) as kernel:
        yield kernel


def counter_watcher(run: CircusRun, tmp_path: Path, numprocesses: int) -> str:
    """A papa watcher ``web`` of COUNTER processes writing to ``web.log`` with timestamps."""
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    progress = tmp_path / "progress"
    progress.mkdir(exist_ok=True)
    return (f"[watcher:web]\ncmd = {PYTHON} {script} {progress} {run.token}\n"
            f"numprocesses = {numprocesses}\nuse_papa = true\n"
            f"stdout_stream.class = FileStream\n"
            f"stdout_stream.filename = {tmp_path / 'web.log'}\n"
            f"stdout_stream.time_format = {TIME_FORMAT}\n")


def progress(tmp_path: Path, pid: int) -> int:
    """The last number COUNTER process *pid* printed (-1 before the first)."""
    try:
        return int((tmp_path / "progress" / str(pid)).read_text())
    except (FileNotFoundError, ValueError):
        return -1


def stamped_lines(path: Path) -> dict[int, list[tuple[float, int]]]:
    """pid → [(timestamp, number)] of a FileStream written with TIME_FORMAT."""
    found: dict[int, list[tuple[float, int]]] = {}
    for line in path.read_text().splitlines():
        stamp, rest = line.split(" [", 1)
        pid, number = rest.split("] | ", 1)
        moment = datetime.datetime.strptime(stamp, TIME_FORMAT).timestamp()
        found.setdefault(int(pid), []).append((moment, int(number)))
    return found


def by_wid(kernel: ReferenceKernel) -> dict[str, int]:
    return dict(sorted(kernel.running().items()))


def test_quit_leaves_papa_watchers_and_the_next_circusd_adopts_them_and_replays_output(
        run: CircusRun, kernel: ReferenceKernel, tmp_path: Path) -> None:
    hooks = f"papa_reference_hooks_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{hooks}.py").write_text(HOOK_CODE)
    first = start_upstream(run, "adopt", (
        counter_watcher(run, tmp_path, 2)
        + f"hooks.before_start = {hooks}.mark\nhooks.before_spawn = {hooks}.mark\n"
        # Where upstream looks for hook modules (besides its own sys.path).
        + f"[env:web]\nPYTHONPATH = {tmp_path}\n"
        + f"[watcher:plain]\ncmd = {shlex.quote(PYTHON)} -c {shlex.quote(SLEEP_CODE)} {run.token}\n"
        + "[socket:web]\nhost = 127.0.0.1\nport = 0\nuse_papa = true\n"))
    pids = sorted(first.wait_pids("web", 2))
    [plain] = first.wait_pids("plain", 1)
    assert sorted(by_wid(kernel).values()) == pids
    assert list(by_wid(kernel)) == ["circus.web.1", "circus.web.2"]
    assert list(kernel.listing()["sockets"]) == ["circus.web"]
    ran = tmp_path / "hooks.log"
    assert ran.read_text().split() == ["before_start", "before_spawn", "before_spawn"]

    quit_upstream(first)
    down_from = time.time()
    at_quit = {pid: progress(tmp_path, pid) for pid in pids}
    assert "web left running in papa" in first.log_text()
    wait_for(lambda: not alive(plain), "the plain watcher's process to be stopped")
    assert all(alive(pid) for pid in pids)
    # Half a second of output with nobody reading it but papa.
    wait_for(lambda: all(progress(tmp_path, pid) >= at_quit[pid] + 25 for pid in pids),
             "output while circusd is down")
    down_until = time.time()
    while_down = {pid: progress(tmp_path, pid) for pid in pids}

    second = restart_upstream(run, first)
    assert sorted(second.wait_pids("web", 2)) == pids
    assert settled_call(second, "status", name="web")["status"] == "active"
    assert "web already running" in second.log_text()
    # Adopting starts nothing: neither hook ran again.
    assert ran.read_text().split() == ["before_start", "before_spawn", "before_spawn"]
    assert list(kernel.listing()["sockets"]) == ["circus.web"]

    log = tmp_path / "web.log"

    def written_after_restart() -> bool:
        lines = stamped_lines(log)
        return all(pid in lines and lines[pid][-1][1] > while_down[pid] + 10 for pid in pids)

    wait_for(written_after_restart, "output after the restart in web.log")
    lines = stamped_lines(log)
    for pid in pids:
        numbers = [number for _, number in lines[pid]]
        # Everything, once, in order: nothing lost or repeated across the restart.
        assert numbers == list(range(len(numbers))), (pid, numbers)
        # Lines written while circusd was down carry papa's time, not the replay's.
        down = [stamp for stamp, number in lines[pid]
                if at_quit[pid] < number <= while_down[pid]]
        assert len(down) >= 25
        assert all(down_from - 1 <= stamp <= down_until for stamp in down), (down_from, down)


def test_a_papa_process_that_died_is_replaced_under_its_name(
        run: CircusRun, kernel: ReferenceKernel, tmp_path: Path) -> None:
    first = start_upstream(run, "respawn", counter_watcher(run, tmp_path, 2))
    first.wait_pids("web", 2)
    names = by_wid(kernel)
    quit_upstream(first)

    dead = names["circus.web.1"]
    os.kill(dead, signal.SIGTERM)
    wait_for(lambda: not alive(dead), "the process to exit while circusd is down")

    second = restart_upstream(run, first)

    def replaced(daemon: Daemon, gone: int) -> list[int] | None:
        found = daemon.pids("web")
        return found if len(found) == 2 and gone not in found and all(map(alive, found)) else None

    pids = wait_for(lambda: replaced(second, dead), "the dead process to be replaced")
    assert names["circus.web.2"] in pids
    after = by_wid(kernel)
    assert list(after) == ["circus.web.1", "circus.web.2"]
    assert after["circus.web.2"] == names["circus.web.2"]
    assert after["circus.web.1"] not in names.values()
    # The exit went unnoticed in the log (upstream reports reaps at debug level).
    assert str(dead) not in second.log_text()

    # While circusd runs, a papa process that dies is replaced too (#946 is fixed here).
    os.kill(names["circus.web.2"], signal.SIGTERM)
    wait_for(lambda: replaced(second, names["circus.web.2"]), "a replacement while running")
    assert list(by_wid(kernel)) == ["circus.web.1", "circus.web.2"]


def test_numprocesses_set_by_incr_is_lost_and_the_surplus_killed(
        run: CircusRun, kernel: ReferenceKernel, tmp_path: Path) -> None:
    first = start_upstream(run, "incr", counter_watcher(run, tmp_path, 2))
    first.wait_pids("web", 2)
    settled_call(first, "incr", name="web")
    first.wait_pids("web", 3)
    assert settled_call(first, "options", name="web")["options"]["numprocesses"] == 3
    names = by_wid(kernel)
    assert list(names) == ["circus.web.1", "circus.web.2", "circus.web.3"]
    quit_upstream(first)
    assert all(alive(pid) for pid in names.values())

    second = restart_upstream(run, first)
    assert settled_call(second, "options", name="web")["options"]["numprocesses"] == 2
    # All three were adopted, then the oldest one killed to get back to 2.
    wait_for(lambda: not alive(names["circus.web.1"]), "the surplus process to be killed")
    assert sorted(second.wait_pids("web", 2)) == sorted(
        [names["circus.web.2"], names["circus.web.3"]])
    assert by_wid(kernel) == {"circus.web.2": names["circus.web.2"],
                              "circus.web.3": names["circus.web.3"]}


def test_stop_kills_adopted_processes_and_a_quit_then_closes_the_idle_papa(
        run: CircusRun, kernel: ReferenceKernel, tmp_path: Path) -> None:
    first = start_upstream(run, "stop", (
        counter_watcher(run, tmp_path, 2)
        + "[socket:web]\nhost = 127.0.0.1\nport = 0\nuse_papa = true\n"))
    pids = sorted(first.wait_pids("web", 2))
    quit_upstream(first)
    second = restart_upstream(run, first)
    assert sorted(second.wait_pids("web", 2)) == pids

    settled_call(second, "stop", name="web")
    wait_for(lambda: not any(alive(pid) for pid in pids), "the adopted processes to be killed")
    wait_for(lambda: second.call("status", name="web")["status"] == "stopped",
             "the watcher to be stopped")
    assert kernel.listing()["processes"] == {}
    assert list(kernel.listing()["sockets"]) == ["circus.web"]

    # No circus.* process left in papa: quit removes the papa sockets and papa exits.
    quit_upstream(second)
    kernel.process.wait(timeout=15)
    assert "closing papa" in second.log_text()
