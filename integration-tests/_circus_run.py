"""Daemons and clients for the control-plane tests: ours and upstream 0.19's.

A :class:`CircusRun` belongs to one test. Everything it starts carries the
test's token: daemons and client programs in their environment
(``CIRCUS_COMPAT_RUN``), watcher children in their argv (upstream does not
pass its environment on unless ``copy_env`` is set). :meth:`CircusRun.close`
stops the daemons with SIGTERM, then kills whatever still carries the token and
reports it, so a test that leaves a process behind fails.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import zmq
from _circus_peer import peer_env

MARKER = "CIRCUS_COMPAT_RUN"
BIN = Path(sys.executable).parent
PYTHON = str(Path(sys.executable).absolute())
# A child that lives until it is stopped; its argv carries the test's token.
SLEEP_CODE = "import time; [time.sleep(1) for _ in iter(int, 1)]"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll *predicate* until it returns something true (returned); fail after *timeout*."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _state(pid: int) -> str | None:
    """The /proc state letter of *pid* (``Z`` for a zombie), or None if it is gone."""
    text = _read(f"/proc/{pid}/stat").decode(errors="replace")
    return text.rsplit(")", 1)[1].split()[0] if ")" in text else None


def alive(pid: int) -> bool:
    """True if *pid* runs and is not a zombie."""
    state = _state(pid)
    return state is not None and state != "Z"


def children_of(pid: int) -> list[int]:
    """Live direct children of *pid*."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            text = _read(f"/proc/{entry}/stat").decode(errors="replace")
            if ")" in text and int(text.rsplit(")", 1)[1].split()[1]) == pid \
                    and alive(int(entry)):
                found.append(int(entry))
    return found


def marked(token: str) -> list[int]:
    """Live processes carrying *token* in their environment or their argv."""
    env_needle = f"{MARKER}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        argv = _read(f"/proc/{entry}/cmdline").split(b"\0")
        environ = _read(f"/proc/{entry}/environ").split(b"\0")
        if (token.encode() in argv or env_needle in environ) and alive(int(entry)):
            found.append(int(entry))
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL *pid*'s process group if it leads one (watcher children do), else *pid*."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- raw protocol helpers ------------------------------------------------------------


def call(endpoint: str, command: str, timeout: float = 10.0, **props: Any) -> dict[str, Any]:
    """Send one request on a fresh DEALER socket and return the decoded reply."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        request_id = uuid.uuid4().hex
        sock.send(json.dumps({"command": command, "properties": props,
                              "id": request_id}).encode())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000)):
                raise AssertionError(f"no reply to {command} {props} on {endpoint}")
            reply: dict[str, Any] = json.loads(sock.recv())
            if reply.get("id") == request_id:
                return reply
    finally:
        sock.close()


def answers(endpoint: str) -> bool:
    """True if a daemon on *endpoint* replies to ``status``."""
    try:
        return call(endpoint, "status", timeout=0.5).get("status") == "ok"
    except AssertionError:
        return False


# -- configs -------------------------------------------------------------------------


def watcher_section(name: str, token: str, numprocesses: int = 1, extra: str = "") -> str:
    """A ``[watcher:NAME]`` section running a sleeping python child marked with *token*."""
    cmd = f"{shlex.quote(PYTHON)} -c {shlex.quote(SLEEP_CODE)} {token}"
    return (f"[watcher:{name}]\ncmd = {cmd}\nnumprocesses = {numprocesses}\n"
            f"graceful_timeout = 5\n{extra}\n")


# -- daemons -------------------------------------------------------------------------


@dataclass
class Daemon:
    """One running circusd (ours or upstream's) and its endpoints."""

    kind: str
    process: subprocess.Popen[bytes]
    endpoint: str
    pubsub: str
    config: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        """A raw request to this daemon's control channel."""
        return call(self.endpoint, command, **props)

    def pids(self, watcher: str) -> list[int]:
        """``list <watcher>`` as ints."""
        reply = self.call("list", name=watcher)
        assert reply["status"] == "ok", reply
        return [int(pid) for pid in reply["pids"]]

    def wait_pids(self, watcher: str, count: int, timeout: float = 15.0) -> list[int]:
        """Wait until *watcher* has exactly *count* live pids (and circusd as many children)."""
        def ready() -> list[int] | None:
            pids = self.pids(watcher)
            return pids if len(pids) == count and all(alive(p) for p in pids) else None

        found: list[int] = wait_for(ready, f"{count} processes in {watcher}", timeout)
        return found


def terminate(daemon: Daemon) -> bool:
    """SIGTERM *daemon* and wait up to 30 s for it to exit; True if it did."""
    # Upstream 0.19 drops a SIGTERM that arrives while a start, stop or reload
    # holds its global lock (an upstream bug we do not copy), so its daemon is asked
    # again; ours must obey the first one.
    tries = 15 if daemon.kind == "upstream" else 1
    for _attempt in range(tries):
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(timeout=30 / tries)
            return True
        except subprocess.TimeoutExpired:
            continue
    return False


@dataclass
class CircusRun:
    """The daemons and client runs of one test; :meth:`close` leaves nothing behind."""

    tmp_path: Path
    peer: Path | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    daemons: list[Daemon] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        # ipc paths must stay short (sun_path is 108 bytes); tmp_path may not be.
        self.sockdir = Path(tempfile.mkdtemp(prefix="cc-"))

    # -- endpoints and configs --

    def endpoints(self, label: str) -> tuple[str, str]:
        """Fresh (control, pubsub) ipc endpoints for one daemon."""
        return (f"ipc://{self.sockdir}/{label}-ctl.sock",
                f"ipc://{self.sockdir}/{label}-pub.sock")

    def config(self, label: str, sections: str, circus_extra: str = "") -> tuple[Path, str, str]:
        """Write ``<label>.ini`` with fresh endpoints and *sections*; return it and them."""
        endpoint, pubsub = self.endpoints(label)
        path = self.tmp_path / f"{label}.ini"
        path.write_text(f"[circus]\nendpoint = {endpoint}\npubsub_endpoint = {pubsub}\n"
                        f"check_delay = 1\n{circus_extra}\n{sections}")
        return path, endpoint, pubsub

    def watchers(self, counts: dict[str, int]) -> str:
        """Watcher sections, one per ``name: numprocesses``."""
        return "".join(watcher_section(name, self.token, count)
                       for name, count in counts.items())

    # -- starting daemons --

    def client_env(self, base: dict[str, str]) -> dict[str, str]:
        """*base* plus this run's marker, for anything the test starts."""
        return dict(base, **{MARKER: self.token})

    def ours_argv(self, program: str) -> list[str]:
        """Our console script from the test venv, else ``python -m circus.<program>``."""
        script = BIN / program
        if script.exists():
            return [str(script)]
        return [sys.executable, "-m", f"circus.{program}"]

    def start(self, kind: str, config: Path, endpoint: str, pubsub: str,
              cwd: Path | None = None) -> Daemon:
        """Start circusd *kind* (``ours`` or ``upstream``) on *config*; wait until it answers."""
        if kind == "ours":
            argv, env = self.ours_argv("circusd"), self.client_env(dict(os.environ))
        else:
            assert self.peer is not None, "this run has no upstream peer"
            argv, env = [str(self.peer / "bin" / "circusd")], self.client_env(peer_env())
        log = self.tmp_path / f"{config.stem}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([*argv, str(config)], stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, env=env,
                                       cwd=cwd or self.tmp_path, start_new_session=True)
        daemon = Daemon(kind, process, endpoint, pubsub, config, log)
        self.daemons.append(daemon)
        wait_for(lambda: not daemon.running() or answers(endpoint),
                 f"{kind} circusd to answer on {endpoint}", 30)
        assert daemon.running(), f"{kind} circusd exited: {daemon.log_text()}"
        return daemon

    # -- clients --

    def _run(self, argv: list[str], env: dict[str, str], stdin: str | None,
             timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, input=stdin, env=self.client_env(env), cwd=self.tmp_path,
                                  capture_output=True, text=True, timeout=timeout,
                                  check=False,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{argv} hung: {exc.stdout!r} {exc.stderr!r}") from exc

    def upstream_ctl(self, endpoint: str, *args: str, stdin: str | None = None,
                     timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Upstream's circusctl 0.19 with ``--endpoint endpoint`` and *args*."""
        assert self.peer is not None, "this run has no upstream peer"
        argv = [str(self.peer / "bin" / "circusctl"), "--endpoint", endpoint,
                "--timeout", "20", *args]
        return self._run(argv, peer_env(), stdin, timeout)

    def ours_ctl(self, endpoint: str, *args: str, stdin: str | None = None,
                 timeout: float = 60.0,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Our circusctl with ``--endpoint endpoint`` and *args* (in *env*, else ours)."""
        argv = [*self.ours_argv("circusctl"), "--endpoint", endpoint, "--timeout", "20", *args]
        return self._run(argv, dict(os.environ) if env is None else env, stdin, timeout)

    def ours_listen(self, pubsub: str, *args: str,
                    env: dict[str, str] | None = None) -> Listener:
        """Our ``circusctl [args] --endpoint pubsub listen ...`` running; see :class:`Listener`.

        *args* are circusctl's arguments after ``--endpoint``: global options,
        then ``listen`` and its topics.
        """
        argv = [*self.ours_argv("circusctl"), "--endpoint", pubsub, *args]
        return Listener(subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=self.tmp_path,
            env=self.client_env(dict(os.environ) if env is None else env)))

    def peer_python(self, script: Path, *args: str,
                    timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run *script* with the upstream peer's python."""
        assert self.peer is not None, "this run has no upstream peer"
        return self._run([str(self.peer / "bin" / "python"), str(script), *args],
                         peer_env(), None, timeout)

    # -- teardown --

    def close(self) -> list[str]:
        """Stop every daemon and kill what is left; return what had to be killed."""
        problems = []
        for daemon in self.daemons:
            self.seen.update(children_of(daemon.process.pid))
            if daemon.running() and not terminate(daemon):
                problems.append(f"{daemon.kind} circusd ignored SIGTERM")
                daemon.process.kill()
                daemon.process.wait()
        deadline = time.monotonic() + 10
        left = marked(self.token)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = marked(self.token)
        for pid in set(left) | {pid for pid in self.seen if alive(pid)}:
            problems.append(f"left running: {pid} {_read(f'/proc/{pid}/cmdline')!r}")
            _kill_tree(pid)
        shutil.rmtree(self.sockdir, ignore_errors=True)
        return problems

    def logs(self) -> str:
        """Every daemon's log, for failure messages."""
        return "\n".join(f"--- {d.kind} {d.config.name}\n{d.log_text()}" for d in self.daemons)


RunT = TypeVar("RunT", bound=CircusRun)


def closed_after(run: RunT) -> Iterator[RunT]:
    """Yield ``run`` to a fixture's test, then close it and fail on whatever it had to kill."""
    try:
        yield run
    finally:
        problems = run.close()
    assert problems == [], f"{problems}\n{run.logs()}"


class Listener:
    """A running ``circusctl listen`` whose output lines are collected by a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            self.lines.append(line.rstrip("\n"))

    def interrupt(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGINT, as Ctrl-C sends; wait for the exit and return (exit code, stderr).

        A listener that ignores it is killed and fails the test.
        """
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"circusctl listen ignored SIGINT: {self.lines}") from None
        return self.process.returncode, self.close()

    def close(self) -> str:
        """Kill the listener if it still runs; return what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
        assert self.process.stderr is not None and self.process.stdout is not None
        err = self.process.stderr.read()
        self.process.stderr.close()
        self.process.stdout.close()
        return err


def check(result: subprocess.CompletedProcess[str], rc: int = 0,
          stdout: str | None = None) -> subprocess.CompletedProcess[str]:
    """Assert a client run's exit code (and exact stdout when given)."""
    detail = f"rc={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == rc, detail
    assert "Traceback" not in result.stderr, detail
    if stdout is not None:
        assert result.stdout == stdout, detail
    return result
