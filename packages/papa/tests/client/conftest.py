"""Fixtures for the client tests: real kernels (papa 1.0.6 and ours) and a scripted fake.

papa 1.0.6 is installed from PyPI into a throwaway venv outside the repository,
shared by every run on the machine (guarded by a file lock), and never vendored.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import papa
import pytest

PEER_VERSION = "1.0.6"
BANNER = b'Papa is home. Type "help" for commands.\n> '


# -- small shared helpers -----------------------------------------------------


def python_child(code: str) -> tuple[str, tuple[str, str]]:
    """(executable, args) running *code* with this interpreter: ``python -c code``.

    Papa's line protocol turns newlines into spaces, so a multi-line *code*
    travels as one line: ``exec('<code with \\n escapes>')``.
    """
    return sys.executable, ("-c", f"exec({code!r})" if "\n" in code else code)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.01) -> None:
    """Poll *predicate* until it is true; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_gone(pid: int) -> bool:
    """True if *pid* no longer exists or is a zombie awaiting its parent."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def process_exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def kernel_pids(marker: str) -> list[int]:
    """Live papa kernels for *marker* (a port or path): by argv, or by daemon title."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        # A daemonized kernel retitles itself "papa daemon from X on <endpoint>"
        # when setproctitle is installed.
        title = argv[0]
        ours = "papa.server" in argv and marker in argv
        retitled = title.startswith("papa daemon from ") and title.endswith(marker)
        if (ours or retitled) and not process_gone(int(entry)):
            found.append(int(entry))
    return found


def children_of(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry))
    return children


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by *pid* (papa setsid's its children), or just *pid*."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_daemon_kernels(marker: str) -> None:
    """SIGTERM every kernel with *marker* (port or path) in its argv and wait until it is gone."""
    pids = kernel_pids(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not any(process_exists(pid) for pid in pids), 10, "the kernel to exit")


# -- papa 1.0.6 from PyPI ------------------------------------------------------


@pytest.fixture(scope="session")
def papa106() -> Path:
    """The ``papa`` console script of a papa==1.0.6 venv (created once, then reused)."""
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
    # Our src/ may be on PYTHONPATH; the peer must import *its* papa.
    found = subprocess.run([str(root / "bin" / "python"), "-c",
                            "import papa.server; print(papa.server.__file__)"],
                           env=peer_env(), capture_output=True, text=True, check=False)
    assert found.stdout.startswith(str(root)), f"papa 1.0.6 not importable: {found}"
    return root / "bin" / "papa"


def peer_env() -> dict[str, str]:
    """This environment without the variables that would put our papa on the peer's path."""
    hidden = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    return {key: value for key, value in os.environ.items() if key not in hidden}


# -- running kernels -------------------------------------------------------------


@dataclass
class Kernel:
    """A kernel running in the foreground as our child, on TCP 127.0.0.1:port."""

    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    pids: set[int] = field(default_factory=set)

    def client(self, timeout: float = 5.0) -> papa.Papa:
        # If the kernel had died, Papa() would auto-start *our* kernel on its port
        # and the test would silently run against the wrong peer.
        assert self.process.poll() is None, f"{self.kind} kernel died: {self.log.read_text()}"
        return papa.Papa(self.port, connection_timeout=timeout)

    def spawn(self, client: papa.Papa, name: str, code: str, **kwargs: Any) -> dict[str, Any]:
        """make_process running ``python -c code``; the pid is killed at teardown."""
        executable, args = python_child(code)
        details: dict[str, Any] = client.make_process(name, executable, args=args, **kwargs)
        self.pids.add(details["pid"])
        return details

    def stop(self) -> None:
        """Kill every child the kernel still has, then SIGTERM the kernel and reap it."""
        pids = self.pids | set(children_of(self.process.pid))
        for pid in pids:
            kill_group(pid)
        wait_for(lambda: all(process_gone(pid) for pid in pids), 10, "papa's children to die")
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.kind} kernel ignored SIGTERM")
        wait_for(lambda: not any(process_exists(pid) for pid in pids), 10,
                 "papa's children to be reaped")


def _banner_received(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            data = b""
            while not data.endswith(b"\n> "):
                chunk = probe.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return data == BANNER
    except OSError:
        return False


def start_kernel(kind: str, command: list[str], port: int, log: Path,
                 env: dict[str, str] | None = None) -> Kernel:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, env=env)
    kernel = Kernel(kind, port, process, log)

    def listening() -> bool:
        if process.poll() is not None:
            pytest.fail(f"{kind} kernel exited with {process.returncode}: {log.read_text()}")
        return _banner_received(port)

    try:
        wait_for(listening, 15, f"the {kind} kernel to listen on {port}")
    except BaseException:
        kernel.stop()
        raise
    return kernel


KERNEL_KINDS = ["papa-1.0.6", "ours"]


@pytest.fixture(params=KERNEL_KINDS)
def kernel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kernel]:
    """A fresh kernel, papa 1.0.6 or ours, in the foreground on a free port."""
    port = free_port()
    if request.param == "papa-1.0.6":
        papa_script: Path = request.getfixturevalue("papa106")
        command = [str(papa_script), "-p", str(port)]
        env = peer_env()
    else:
        command = [sys.executable, "-m", "papa.server", "-p", str(port)]
        env = None
    kernel = start_kernel(request.param, command, port, tmp_path / "kernel.log", env)
    try:
        yield kernel
    finally:
        kernel.stop()
    assert kernel_pids(str(port)) == [], "a kernel was auto-started on the test's port"


@pytest.fixture(autouse=True)
def _restore_defaults() -> Iterator[None]:
    yield
    papa.set_default_port(20202)
    papa.set_default_path(None)
    papa.set_default_connection_timeout(10)
    papa.set_debug_mode(False)


# -- a scripted fake kernel -------------------------------------------------------


Reply = Callable[[str], bytes]


class FakeKernel:
    """A stand-in kernel on a unix socket that records every line and replies by script.

    ``replies`` maps an exact received line to the bytes sent back (default: an
    empty reply, ``\\n> ``; ``q`` gets ``Stopped watching``). ``lines`` holds
    ``(connection number, line)`` and ``eofs`` the numbers of connections the
    client closed.
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.replies: dict[str, bytes] = {"q": b"Stopped watching\n> "}
        self.lines: list[tuple[int, str]] = []
        self.eofs: list[int] = []
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(self.path)
        self._server.listen(8)
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                number = len(self._connections)
                self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        try:
            conn.sendall(BANNER)
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    self.eofs.append(number)
                    return
                buffer += chunk
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    line = raw.decode()
                    self.lines.append((number, line))
                    reply = self.replies.get(line, b"\n> ")
                    if reply:
                        conn.sendall(reply)
        except OSError:
            return

    def send(self, number: int, data: bytes) -> None:
        """Push unsolicited bytes down connection *number*."""
        self._connections[number].sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._server.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKernel]:
    kernel = FakeKernel(tmp_path / "fake.sock")
    try:
        yield kernel
    finally:
        kernel.close()
