"""A private papa kernel for one use_papa test, and a teardown that leaves nothing.

The kernel listens on a unix socket in the run's socket directory and carries
the run's marker, so ``CircusRun.close`` would find it. Processes papa starts
are session leaders re-parented to init when the kernel goes: teardown stops
the daemons first (so nothing respawns), kills by pid every process papa has or
had, then the kernel, and checks that none is left.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import papa
from _circus_run import PYTHON, SLEEP_CODE, CircusRun, Daemon, alive, check, terminate, wait_for


@dataclass
class PapaKernel:
    """Our papa kernel, in the foreground as the test's child."""

    run: CircusRun
    path: Path
    process: subprocess.Popen[bytes]
    log: Path
    seen: set[int] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        """``papa_endpoint`` for circusd."""
        return f"ipc://{self.path}"

    def client(self) -> papa.Papa:
        """A client; the kernel must be alive (else papa's client would start another)."""
        assert self.process.poll() is None, f"papa died: {self.log.read_text()}"
        return papa.Papa(str(self.path), connection_timeout=5)

    def processes(self, pattern: str = "circus.*") -> dict[str, dict[str, Any]]:
        """papa's listing of *pattern*; every pid in it is remembered for teardown."""
        with self.client() as client:
            found: dict[str, dict[str, Any]] = client.list_processes(pattern)
        self.seen.update(int(entry["pid"]) for entry in found.values())
        return found

    def running(self, pattern: str = "circus.*") -> dict[str, int]:
        """name → pid of the processes papa lists as running."""
        return {name: int(entry["pid"]) for name, entry in self.processes(pattern).items()
                if entry["running"]}

    def kill(self) -> None:
        """SIGKILL the kernel (its processes keep running) and reap it."""
        self.processes()
        self.process.kill()
        self.process.wait()

    def close(self) -> list[str]:
        """Stop the daemons, kill every papa process by pid, then the kernel."""
        kill_hosted(self.run, self.seen,
                    (lambda: self.processes("*")) if self.process.poll() is None else None)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return ["papa ignored SIGTERM"]
        return [f"left running: {pid}" for pid in self.seen if alive(pid)]


def kill_hosted(run: CircusRun, seen: set[int], refresh: Callable[[], object] | None) -> None:
    """Teardown shared by our kernel and papa 1.0.6's: stop *run*'s daemons (so that
    nothing respawns), call *refresh* (which adds what the kernel lists to *seen*;
    None: the kernel is gone), then SIGKILL every pid of *seen* and its group, and
    wait until they are gone."""
    for daemon in run.daemons:
        if daemon.running() and not terminate(daemon):
            daemon.process.kill()
            daemon.process.wait()
    if refresh is not None:
        refresh()
    for pid in seen:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in seen), "papa's processes to die", 10)


def start_kernel(run: CircusRun) -> PapaKernel:
    """Start papa on a unix socket of *run*; return once it answers."""
    path = run.sockdir / "papa.sock"
    log = run.tmp_path / "papa.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "papa.server", "-u", str(path)],
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=run.client_env(dict(os.environ)))
    kernel = PapaKernel(run, path, process, log)

    def answers() -> bool:
        # A raw probe: papa's client would start a kernel of its own if none answered.
        assert process.poll() is None, f"papa exited: {log.read_text()}"
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(1)
            try:
                probe.connect(str(path))
                return probe.recv(100).startswith(b"Papa is home")
            except OSError:
                return False

    wait_for(answers, "papa to listen", 15)
    return kernel


def sleeper(run: CircusRun) -> str:
    """A command sleeping until stopped, marked with the run's token."""
    return f"{shlex.quote(PYTHON)} -c {shlex.quote(SLEEP_CODE)} {run.token}"


def papa_config(run: CircusRun, kernel: PapaKernel, label: str, sections: str) -> Path:
    """Write ``<label>.ini`` using *kernel* as papa_endpoint."""
    path, _, _ = run.config(label, sections, f"papa_endpoint = {kernel.endpoint}\n")
    return path


def start(run: CircusRun, config: Path) -> Daemon:
    """Start our circusd on *config* (written by :func:`papa_config`)."""
    endpoint, pubsub = run.endpoints(config.stem)
    return run.start("ours", config, endpoint, pubsub)


def quit_daemon(run: CircusRun, daemon: Daemon) -> None:
    """``circusctl quit`` and wait for a clean exit."""
    check(run.ours_ctl(daemon.endpoint, "quit"))
    daemon.process.wait(timeout=30)
    assert daemon.process.returncode == 0, daemon.log_text()


def restart(run: CircusRun, daemon: Daemon) -> Daemon:
    """Quit *daemon*, then start a new circusd on the same config."""
    quit_daemon(run, daemon)
    # The same endpoints: a second daemon on the config of the first.
    return run.start("ours", daemon.config, daemon.endpoint, daemon.pubsub)
