"""Shared test helpers: tiny child programs, polling, leak checks, a running arbiter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import zmq
from circus.arbiter import Arbiter
from circus.watcher import Watcher

PYTHON = sys.executable


def python_cmd(code: str) -> str:
    """A watcher ``cmd`` running ``code`` with this interpreter (``python -c``)."""
    return f"{shlex.quote(PYTHON)} -u -c {shlex.quote(code)}"


def poll(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Wait until ``predicate()`` is truthy (returning it); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


async def apoll(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.005
) -> Any:
    """Async ``poll``: waits on the loop so the arbiter keeps running."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await asyncio.sleep(interval)


def descendants() -> list[psutil.Process]:
    """Every live descendant of the test process (zombies included)."""
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def pid_exists_not_zombie(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Every test ends with no child, zombie or fd leaked.

    What a test leaves behind is killed (and reaped, if it is our child) and
    fails that test alone: what was there before it began is not counted, so
    one leak never turns the tests after it into errors.
    """
    before_children = {p.pid for p in descendants()}
    before_fds = set(os.listdir("/proc/self/fd"))
    yield
    deadline = time.monotonic() + 5
    while True:
        reap_exited_guards()
        leaked = [p for p in descendants() if p.pid not in before_children]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    for proc in leaked:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    for proc in leaked:
        with contextlib.suppress(ChildProcessError):  # not ours, or reaped by its Popen
            os.waitpid(proc.pid, 0)
    assert not leaked, f"test left child processes behind (killed): {leaked}"
    deadline = time.monotonic() + 2
    while True:
        extra = {fd for fd in set(os.listdir("/proc/self/fd")) - before_fds if _is_leak(fd)}
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not extra, f"test leaked fds: {_describe_fds(extra)}"


def is_orphan_guard(pid: int) -> bool:
    """True if ``pid`` is a circusd's orphan guard (see circus._watching.orphan_guard)."""
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip() == "circus-guard"
    except OSError:
        return False


def reap_exited_guards() -> None:
    """Reap the orphan guards re-parented to this process (a subreaper) that exited.

    A circusd's guard is detached from it; once this test process is a child
    subreaper (an in-process arbiter made it one), the guard is re-parented
    here and exits when its circusd is gone, leaving a zombie only its new
    parent can reap.
    """
    for proc in descendants():
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if (proc.ppid() == os.getpid() and proc.status() == psutil.STATUS_ZOMBIE
                    and is_orphan_guard(proc.pid)):
                os.waitpid(proc.pid, os.WNOHANG)


def _is_leak(fd: str) -> bool:
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    # The event loop's own epoll/eventfd/self-pipe belong to pytest-managed loops.
    return not target.startswith(("anon_inode:[eventpoll]", "anon_inode:[eventfd]"))


def _describe_fds(fds: set[str]) -> list[str]:
    out = []
    for fd in sorted(fds):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            out.append(fd)
    return out


class ArbiterHarness:
    """An arbiter running on the test's loop, with every event recorded."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.events: list[tuple[str, dict[str, Any]]] = []
        arbiter.events.subscribe(lambda topic, payload: self.events.append((topic, payload)))

    def topics(self, suffix: str = "") -> list[str]:
        """Recorded topics, optionally only those ending with ``suffix``."""
        return [t for t, _ in self.events if t.endswith(suffix)]

    def watcher(self, name: str) -> Watcher:
        return self.arbiter.get_watcher(name)


@pytest.fixture
def ipc_dir() -> Iterator[Path]:
    """A short private directory for ``ipc://`` sockets (paths are limited to ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="circus-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def make_arbiter(ipc_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await make_arbiter(watcher, ...)`` starts an arbiter; stopped at teardown.

    The arbiter has no control or event channel unless ``channels=True``
    (then both are ``ipc://`` sockets in a private directory) or endpoints
    are given explicitly.
    """
    started: list[Arbiter] = []

    async def factory(*watchers: Watcher, start: bool = True, channels: bool = False,
                      **options: Any) -> ArbiterHarness:
        index = len(started)
        options.setdefault("endpoint", f"ipc://{ipc_dir}/ctl{index}" if channels else None)
        options.setdefault("pubsub_endpoint",
                           f"ipc://{ipc_dir}/pub{index}" if channels else None)
        arbiter = Arbiter(list(watchers), loop=asyncio.get_running_loop(), reap_orphans=True,
                          **options)
        harness = ArbiterHarness(arbiter)
        started.append(arbiter)
        if start:
            starting = arbiter.start()  # on the loop's thread: an asyncio.Task
            assert isinstance(starting, asyncio.Task)
            await starting
        return harness

    yield factory
    for arbiter in started:
        stopping = arbiter.stop()  # a loop was given: a Task, never None
        assert stopping is not None
        await stopping
        arbiter.close()


class EventLog:
    """Every event published on ``bus``, with the ``time.monotonic()`` it arrived at."""

    def __init__(self, bus: Any) -> None:
        self.entries: list[tuple[float, str, dict[str, Any]]] = []
        bus.subscribe(self._record)

    def _record(self, topic: str, payload: dict[str, Any]) -> None:
        self.entries.append((time.monotonic(), topic, payload))

    def of(self, topic: str) -> list[tuple[float, dict[str, Any]]]:
        """(arrival, payload) of the events whose topic is exactly ``topic``."""
        return [(at, payload) for at, t, payload in self.entries if t == topic]

    def times(self, topic: str) -> list[float]:
        """Arrival times of the events with topic ``topic``."""
        return [at for at, _ in self.of(topic)]

    def pids(self, topic: str) -> list[int]:
        """``process_pid`` of the events with topic ``topic``, in order."""
        return [payload["process_pid"] for _, payload in self.of(topic)]


# -- circusd as a real subprocess ----------------------------------------------


def circusd_command(*args: str) -> list[str]:
    """argv running circusd from this interpreter's environment."""
    return [PYTHON, "-m", "circus.circusd", *args]


class CircusdProcess:
    """One running ``circusd`` (or library script) subprocess and its log files."""

    def __init__(self, popen: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> None:
        self.popen = popen
        self.stdout_path = stdout
        self.stderr_path = stderr

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """Pids of the live (non-zombie) direct children."""
        try:
            kids = psutil.Process(self.pid).children()
        except psutil.Error:
            return []
        return [p.pid for p in kids if pid_exists_not_zombie(p.pid)]

    def wait_children(self, count: int, timeout: float = 10.0) -> list[int]:
        """Wait until exactly ``count`` children run; return their pids."""
        def ready() -> list[int]:
            pids = self.children()
            return pids if len(pids) == count else []

        result: list[int] = poll(ready, timeout)
        return result

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``signum``, wait for the exit and assert no child it had survives."""
        before = self.children()
        self.popen.send_signal(signum)
        code = self.popen.wait(timeout=timeout)
        poll(lambda: not any(pid_exists_not_zombie(pid) for pid in before), 5.0)
        return code

    def kill(self) -> None:
        """Teardown: SIGKILL the process and every process group it led."""
        kids = self.children()
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        for pid in kids:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # children are session leaders
        for pid in kids:
            # Reparented to us only if this test process became a subreaper.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def with_endpoints(text: str, endpoint: str, pubsub_endpoint: str) -> str:
    """``text`` with ``endpoint``/``pubsub_endpoint`` set, unless it names any endpoint.

    The lines go at the end of the ``[circus]`` section (a new section at the
    end of the file if there is none), so the line numbers that error
    messages cite for earlier lines do not move.
    """
    if "endpoint" in text:
        return text
    extra = [f"endpoint = {endpoint}", f"pubsub_endpoint = {pubsub_endpoint}"]
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().lower() == "[circus]"), None)
    if start is None:
        return "\n".join([*lines, "", "[circus]", *extra]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
               len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "\n".join([*lines[:end], *extra, *lines[end:]]) + "\n"


class CircusdLauncher:
    """Starts circusd subprocesses in the test's tmp dir; kills leftovers at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[CircusdProcess] = []
        self._count = 0
        # ipc paths are limited to ~100 bytes; pytest's tmp_path can be longer.
        self.ipc_dir = Path(tempfile.mkdtemp(prefix="circusd-", dir="/tmp"))
        self.endpoint = f"ipc://{self.ipc_dir}/ctl"
        self.pubsub_endpoint = f"ipc://{self.ipc_dir}/pub"

    def write(self, name: str, text: str, *, endpoints: bool = True) -> Path:
        """Write ``text`` to ``name`` in the tmp dir and return its path.

        An ``.ini`` that names no endpoint gets this test's private ``ipc://``
        control and event endpoints (see :func:`with_endpoints`), so no test
        binds upstream's default ports.
        """
        if endpoints and name.endswith(".ini"):
            text = with_endpoints(text, self.endpoint, self.pubsub_endpoint)
        path = self.tmp_path / name
        path.write_text(text)
        return path

    def cleanup(self) -> None:
        for proc in self.started:
            proc.kill()
        shutil.rmtree(self.ipc_dir, ignore_errors=True)

    def run(
        self, *args: str, timeout: float = 30.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run circusd to completion (for commands that exit at once)."""
        return subprocess.run(circusd_command(*args), cwd=self.tmp_path, capture_output=True,
                              text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)

    def start(self, *args: str, argv: list[str] | None = None,
              env: dict[str, str] | None = None) -> CircusdProcess:
        """Start ``circusd *args`` (or ``argv``) with stdout/stderr going to files."""
        self._count += 1
        out = self.tmp_path / f"circusd-{self._count}.out"
        err = self.tmp_path / f"circusd-{self._count}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            popen = subprocess.Popen(argv or circusd_command(*args), cwd=self.tmp_path,
                                     stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                     env=env)
        proc = CircusdProcess(popen, out, err)
        self.started.append(proc)
        return proc

    def call(self, command: str, timeout: float = 10.0, **props: Any) -> dict[str, Any]:
        """Send ``command`` with ``props`` on a fresh connection; return the reply.

        A new DEALER per call, as circusctl makes it: a test of circusd under
        fd pressure needs each command to cost circusd a new connection.
        """
        context = zmq.Context()
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        try:
            msg_id = uuid.uuid4().hex
            sock.send(json.dumps({"command": command, "properties": props,
                                  "id": msg_id}).encode())
            assert sock.poll(int(timeout * 1000)), f"no reply to {command}"
            reply: dict[str, Any] = json.loads(sock.recv())
            assert reply["id"] == msg_id
            return reply
        finally:
            sock.close(linger=0)
            context.term()


@pytest.fixture
def circusd(tmp_path: Path) -> Iterator[CircusdLauncher]:
    """Factory of circusd subprocesses; anything still running at teardown is killed."""
    launcher = CircusdLauncher(tmp_path)
    yield launcher
    launcher.cleanup()
