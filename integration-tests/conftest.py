"""Fixtures for driving our papa kernel with the real papa 1.0.6 client.

papa 1.0.6 is installed from PyPI into a throwaway venv outside the repository.
The venv lives in the same cache directory, under the same lock file, as the one
the papa package's own tests build, so both suites share a single copy. It is
never vendored, and nothing here is imported from a package's tests.

Every process a test starts carries a per-test marker in its environment
(``PAPA_COMPAT_RUN``): the kernel, the client scripts, and, through them, every
process the kernel starts and any kernel the real client might fork. Teardown
kills what still carries the marker and fails the test if anything was left.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _circus_peer import circus_peer_root
from _circus_run import CircusRun, closed_after
from _papa_proof_run import PapaRun
from _papa_run import PapaKernel, start_kernel

PEER_VERSION = "1.0.6"
BANNER = b'Papa is home. Type "help" for commands.\n> '
MARKER = "PAPA_COMPAT_RUN"
SCRIPT = Path(__file__).resolve().parent / "papa_scripts" / "real_client.py"
# Variables that could put our papa on the peer's import path.
HIDDEN = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"}


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Poll *predicate* until it is true; fail the test after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# The suite-wide guards (leaked children, Ctrl-C) come from the
# pytest-circus-guards plugin in tools/, which every suite loads.


# -- /proc ------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """True if *pid* exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def children_of(pid: int) -> list[int]:
    """Every child of *pid*, zombies included (an unreaped child counts as left behind)."""
    return [child for child in _pids() if (fields := _stat(child)) and int(fields[1]) == pid]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def marked(token: str) -> list[int]:
    """Live processes whose environment carries this test's marker."""
    needle = f"{MARKER}={token}".encode()
    return [pid for pid in _pids()
            if needle in _read(f"/proc/{pid}/environ").split(b"\0") and alive(pid)]


def cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")


def kill_group(pid: int) -> None:
    """SIGKILL the process group *pid* leads (papa setsid's its children), else just *pid*."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
            return
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- papa 1.0.6 from PyPI -----------------------------------------------------------


@pytest.fixture(scope="session")
def peer_root() -> Path:
    """A venv holding the real papa==1.0.6 (created once per machine, then reused)."""
    peers = Path(tempfile.gettempdir()) / "circus-test-peers"
    peers.mkdir(parents=True, exist_ok=True)
    root = peers / f"papa-{PEER_VERSION}"
    with open(peers / f"papa-{PEER_VERSION}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        stamp = root / ".complete"
        if not stamp.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True,
                           capture_output=True)
            result = subprocess.run(
                [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", f"papa=={PEER_VERSION}"],
                capture_output=True, text=True, timeout=600, check=False)
            if result.returncode != 0:
                pytest.fail(f"could not install papa=={PEER_VERSION} from PyPI into {root}; "
                            f"these tests need PyPI access (pip said: {result.stderr.strip()})")
            stamp.touch()
    found = subprocess.run([str(root / "bin" / "python"), "-c",
                            "import papa; print(papa.__file__)"],
                           env=peer_env(), capture_output=True, text=True, check=False)
    assert found.stdout.startswith(str(root)), f"papa 1.0.6 not importable: {found}"
    return root


def peer_env() -> dict[str, str]:
    """This environment, without what would make the peer import our papa.

    Empty values are dropped too: the 1.0.6 client cannot send them (it indexes
    the last character of every env value and fails with IndexError).
    """
    return {key: value for key, value in os.environ.items() if key not in HIDDEN and value}


# -- our kernel ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def banner_received(port: int) -> bool:
    """True if a kernel on *port* greets a new connection with papa's exact banner."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
            data = b""
            while not data.endswith(b"\n> "):
                chunk = probe.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return data == BANNER
    except OSError:
        return False


@dataclass
class OurKernel:
    """Our kernel in the foreground on 127.0.0.1:port, plus the real client to drive it."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    workdir: Path
    token: str
    peer: Path
    pids: set[int] = field(default_factory=set)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def run(self, scenario: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run one scenario of papa_scripts/real_client.py with the peer's python."""
        # The real client forks a papa of its own if nothing answers: make sure
        # ours does, right now.
        assert self.process.poll() is None, f"our kernel died: {self.log_text()}"
        assert banner_received(self.port), f"our kernel does not answer: {self.log_text()}"
        env = peer_env()
        env.update(extra_env or {})
        env[MARKER] = self.token
        try:
            done = subprocess.run(
                [str(self.peer / "bin" / "python"), str(SCRIPT), scenario, str(self.port),
                 str(self.workdir)],
                env=env, cwd=self.workdir, capture_output=True, text=True, timeout=60,
                check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{scenario} hung: {exc.stdout!r} {exc.stderr!r}\n{self.log_text()}")
        assert done.returncode == 0, (
            f"{scenario} failed ({done.returncode}):\n{done.stderr}\nkernel log:\n"
            f"{self.log_text()}")
        result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        assert result["papa_file"].startswith(str(self.peer)), result["papa_file"]
        assert result["spawned"] is False, "the real client started a papa of its own"
        self.assert_no_peer_kernel()
        for made in _made(result):
            self.pids.add(made["pid"])
        return result

    def assert_no_peer_kernel(self) -> None:
        """No papa 1.0.6 kernel was forked by the real client.

        Without setproctitle (the peer venv has none) such a daemon keeps the
        cmdline of the script that forked it; with it, it says ``papa daemon``.
        """
        signs = (str(SCRIPT), "papa daemon", str(self.peer / "bin" / "papa"))
        forked = [(pid, text) for pid in marked(self.token)
                  if any(sign in (text := cmdline(pid)) for sign in signs)]
        assert forked == [], f"papa 1.0.6 kernels were started: {forked}"

    def stop(self) -> None:
        """Kill every process the kernel started (their groups), then the kernel itself."""
        if self.process.poll() is None:
            for pid in children_of(self.process.pid):
                kill_group(pid)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"our kernel ignored SIGTERM: {self.log_text()}")
        # Orphans (the kernel may have exited on its own) still carry the marker.
        for pid in self.pids | set(marked(self.token)):
            if alive(pid):
                kill_group(pid)


def _made(result: object) -> list[dict[str, Any]]:
    """Every process description (a dict with a pid) anywhere in a scenario result."""
    found: list[dict[str, Any]] = []
    if isinstance(result, dict):
        if isinstance(result.get("pid"), int):
            found.append(result)
        for value in result.values():
            found.extend(_made(value))
    elif isinstance(result, list):
        for value in result:
            found.extend(_made(value))
    return found


def _start(port: int, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "papa.server", "-p", str(port)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)


@pytest.fixture
def our_kernel(peer_root: Path, tmp_path: Path) -> Iterator[OurKernel]:
    """Our kernel (the installed wheel) listening on a free port; nothing survives it."""
    token = uuid.uuid4().hex
    env = dict(os.environ, **{MARKER: token})
    workdir = tmp_path / "work"
    workdir.mkdir()
    log = tmp_path / "kernel.log"
    kernel: OurKernel | None = None
    # A free port can be taken by someone else before the kernel binds it: retry.
    for _attempt in range(3):
        port = free_port()
        process = _start(port, log, env)
        candidate = OurKernel(port, process, log, workdir, token, peer_root)
        deadline = time.monotonic() + 15
        while process.poll() is None and not banner_received(port):
            if time.monotonic() > deadline:
                candidate.stop()
                pytest.fail(f"our kernel did not listen on {port}: {candidate.log_text()}")
            time.sleep(0.02)
        if process.poll() is None:
            kernel = candidate
            break
    if kernel is None:
        pytest.fail(f"our kernel could not start: {log.read_text(errors='replace')}")
    try:
        yield kernel
    finally:
        kernel.stop()
    wait_for(lambda: not marked(token), "every process of the test to be gone")
    assert [pid for pid in kernel.pids if alive(pid)] == []
    assert "Traceback" not in kernel.log_text(), kernel.log_text()



# -- circusd: ours and upstream circus 0.19 ----------------------------------------------

@pytest.fixture(scope="session")
def circus_peer() -> Path:
    """The venv holding upstream circus==0.19.0 from PyPI (built once, then reused)."""
    return circus_peer_root()


@pytest.fixture
def circus_run(tmp_path: Path) -> Iterator[CircusRun]:
    """Our daemons and clients for one test; nothing they start survives it."""
    yield from closed_after(CircusRun(tmp_path))


@pytest.fixture
def upstream_run(tmp_path: Path, circus_peer: Path) -> Iterator[CircusRun]:
    """Like ``circus_run``, with upstream circus 0.19's programs available too."""
    yield from closed_after(CircusRun(tmp_path, circus_peer))


@pytest.fixture
def papa_run(tmp_path: Path) -> Iterator[PapaRun]:
    """Our daemons with a private papa kernel; teardown kills the kernel and all it hosts."""
    yield from closed_after(PapaRun(tmp_path))


@pytest.fixture
def papa_kernel(circus_run: CircusRun) -> Iterator[PapaKernel]:
    """Our papa kernel on a unix socket of ``circus_run``, for configs naming it.

    Teardown stops the run's daemons, kills every process papa hosts or
    hosted, then the kernel, and fails the test if any of them is left.
    """
    kernel = start_kernel(circus_run)
    try:
        yield kernel
    finally:
        problems = kernel.close()
    assert problems == [], problems
