"""Upstream circus 0.17.2 with papa 1.0.6, the last upstream that had ``use_papa``.

Both run on Python 3.9 only, so their venv is built with a 3.9 interpreter
(pyenv's, or ``python3.9`` on the PATH), from PyPI, once per machine, under
``$TMPDIR/circus-test-peers/`` beside the circus 0.19 peer and under a file lock
of its own. It is never vendored, and its programs run with
:func:`_circus_peer.peer_env`, so nothing of ours is on their path.

The papa kernel is papa 1.0.6's own, run in the foreground as the test's child
on tcp port 20202. That port is the only one upstream 0.17.2 can use: its
watchers ask papa for their processes while the config is loaded, before the
arbiter applies ``papa_endpoint`` (so that lookup always goes to port 20202,
and the papa client forks a kernel there if none answers), and a tcp
``papa_endpoint`` is assigned to a function's name instead of being passed to
it, so it does nothing. The port being machine-wide, a file lock lets only one
test at a time use it.

Teardown stops the daemons (upstream leaves papa watchers running on SIGTERM),
kills by pid every process papa hosts or hosted (they are session leaders,
children of papa), then the kernel, and lets ``CircusRun.close`` look for
anything else carrying the test's token.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _circus_peer import peer_env
from _circus_run import CircusRun, Daemon, alive, answers, wait_for
from _papa_run import kill_hosted

CIRCUS_VERSION = "0.17.2"
PAPA_VERSION = "1.0.6"
# The versions this reference was recorded with: circus 0.17.2 only asks for
# pyzmq>=17, tornado>=5.0.2 and psutil, so later releases could change it.
PINS = [f"circus=={CIRCUS_VERSION}", f"papa=={PAPA_VERSION}", "pyzmq==27.3.0",
        "tornado==6.5.10", "psutil==7.2.2"]
PAPA_PORT = 20202
BANNER = b'Papa is home. Type "help" for commands.\n> '

# The real papa 1.0.6 client, told it has already forked a kernel so that it
# never forks one of its own (it does when nothing answers).
LIST_CODE = (
    "import json, sys, papa\n"
    "papa.Papa.spawned = True\n"
    "with papa.Papa(int(sys.argv[1]), connection_timeout=5) as p:\n"
    "    print(json.dumps({'processes': p.list_processes(sys.argv[2]),\n"
    "                      'sockets': p.list_sockets(sys.argv[2])}))\n"
)


def python39() -> str:
    """A Python 3.9 interpreter; fails the test, saying where it looked, if there is none."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(pyenv, "versions", "3.9.*", "bin", "python3.9")))
    on_path = shutil.which("python3.9")
    if found:
        return found[-1]
    if on_path:
        return on_path
    pytest.fail(f"no Python 3.9 for upstream circus {CIRCUS_VERSION}: none in "
                f"{pyenv}/versions/3.9.* nor python3.9 on the PATH")


def _install(root: Path) -> str | None:
    """Build the venv at *root*; return what failed, if anything."""
    made = subprocess.run([python39(), "-m", "venv", "--clear", str(root)],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return made.stderr.strip()
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *PINS],
        capture_output=True, text=True, timeout=600, check=False, env=peer_env())
    if result.returncode != 0:
        return result.stderr.strip() or result.stdout.strip()
    return None


def reference_root() -> Path:
    """The venv with circus 0.17.2 and papa 1.0.6 (built on first use, then reused)."""
    peers = Path(tempfile.gettempdir()) / "circus-test-peers"
    peers.mkdir(parents=True, exist_ok=True)
    name = f"circus-{CIRCUS_VERSION}-papa-{PAPA_VERSION}"
    root = peers / name
    with open(peers / f"{name}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        stamp = root / ".complete"
        if not stamp.exists():
            problem = _install(root)
            if problem is not None:
                pytest.fail(f"could not build {root} ({' '.join(PINS)}) with "
                            f"{python39()}: {problem}")
            stamp.touch()
    found = subprocess.run(
        [str(root / "bin" / "python"), "-c",
         "import circus, papa, sys; print(circus.__version__, circus.__file__, "
         "sys.version_info[:2] == (3, 9))"],
        env=peer_env(), capture_output=True, text=True, check=False)
    words = found.stdout.split()
    if found.returncode != 0 or len(words) != 3:
        pytest.fail(f"upstream circus {CIRCUS_VERSION} in {root} does not import: "
                    f"{found.stderr.strip()}")
    assert words[0] == CIRCUS_VERSION, f"the venv {root} holds circus {words[0]}"
    assert words[1].startswith(str(root)), f"circus imported from {words[1]}"
    assert words[2] == "True", f"the venv {root} is not Python 3.9"
    return root


def _banner_on(port: int) -> bytes | None:
    """What answers on 127.0.0.1:*port* first, or None if nothing listens."""
    with socket.socket() as probe:
        probe.settimeout(1)
        try:
            probe.connect(("127.0.0.1", port))
            return probe.recv(len(BANNER))
        except OSError:
            return None


@dataclass
class ReferenceKernel:
    """papa 1.0.6's kernel on port 20202, in the foreground, as the test's child."""

    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    seen: set[int] = field(default_factory=set)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def listing(self, pattern: str = "circus.*") -> dict[str, Any]:
        """papa's ``processes`` and ``sockets`` matching *pattern*; every pid is remembered."""
        assert self.process.poll() is None, f"papa exited: {self.log_text()}"
        out = subprocess.run([str(self.root / "bin" / "python"), "-c", LIST_CODE,
                              str(PAPA_PORT), pattern],
                             env=peer_env(), capture_output=True, text=True, timeout=30,
                             check=False)
        assert out.returncode == 0, f"papa 1.0.6's client failed: {out.stderr}"
        found: dict[str, Any] = json.loads(out.stdout)
        self.seen.update(int(entry["pid"]) for entry in found["processes"].values())
        return found

    def running(self, pattern: str = "circus.*") -> dict[str, int]:
        """name → pid of the processes papa lists as running."""
        return {name: int(entry["pid"])
                for name, entry in self.listing(pattern)["processes"].items()
                if entry["running"]}

    def close(self, run: CircusRun) -> list[str]:
        """Stop the daemons, kill every papa process by pid, then the kernel."""
        kill_hosted(run, self.seen,
                    (lambda: self.listing("*")) if self.process.poll() is None else None)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        return [f"left running: {pid}" for pid in self.seen if alive(pid)]


@contextlib.contextmanager
def reference_kernel(run: CircusRun, root: Path) -> Iterator[ReferenceKernel]:
    """papa 1.0.6 on port 20202 for the length of the block; nothing it hosted survives."""
    peers = Path(tempfile.gettempdir()) / "circus-test-peers"
    peers.mkdir(parents=True, exist_ok=True)
    with open(peers / f"papa-port-{PAPA_PORT}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        taken = _banner_on(PAPA_PORT)
        if taken is not None:
            pytest.fail(f"127.0.0.1:{PAPA_PORT} is taken ({taken!r}); upstream circus "
                        f"{CIRCUS_VERSION} finds papa only there")
        log = run.tmp_path / "papa.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(root / "bin" / "papa"), "-p", str(PAPA_PORT)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=run.client_env(peer_env()))
        kernel = ReferenceKernel(root, process, log)
        try:
            wait_for(lambda: process.poll() is not None or _banner_on(PAPA_PORT) == BANNER,
                     "papa 1.0.6 to listen", 15)
            assert process.poll() is None, f"papa 1.0.6 exited: {kernel.log_text()}"
            yield kernel
        finally:
            problems = kernel.close(run)
        assert problems == [], problems


def start_upstream(run: CircusRun, label: str, sections: str) -> Daemon:
    """Write ``<label>.ini`` and start upstream circusd 0.17.2 on it."""
    config, endpoint, pubsub = run.config(label, sections)
    return run.start("upstream", config, endpoint, pubsub)


def restart_upstream(run: CircusRun, daemon: Daemon) -> Daemon:
    """Start another upstream circusd on *daemon*'s config and endpoints (*daemon* has quit)."""
    assert not daemon.running() and not answers(daemon.endpoint)
    return run.start("upstream", daemon.config, daemon.endpoint, daemon.pubsub)


def settled_call(daemon: Daemon, command: str, **props: Any) -> dict[str, Any]:
    """*command*, asked again while upstream refuses it for a command still running.

    Upstream serialises its commands, its own start included, with a lock and
    answers "arbiter is already running ... command" meanwhile.
    """
    def answer() -> dict[str, Any] | None:
        reply = daemon.call(command, **props)
        busy = reply.get("status") == "error" and "already running" in reply.get("reason", "")
        return None if busy else reply

    reply: dict[str, Any] = wait_for(answer, f"upstream to accept {command}")
    assert reply.get("status") != "error", reply
    return reply


def quit_upstream(daemon: Daemon) -> None:
    """``quit`` over the control channel and wait for circusd to exit with status 0."""
    settled_call(daemon, "quit")
    daemon.process.wait(timeout=30)
    assert daemon.process.returncode == 0, daemon.log_text()

