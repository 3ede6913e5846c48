"""use_papa: signals by pid, papa-owned sockets, papa dying, and papa errors at start.

Each test runs its own papa on a unix socket (``_papa_run``) unless it is
about papa being absent or foreign.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from _circus_run import PYTHON, CircusRun, alive, check, children_of, wait_for
from _papa_run import PapaKernel, papa_config, quit_daemon, sleeper, start
from conftest import free_port, kill_group


def script(run: CircusRun, tmp_path: Path, name: str, code: str, *args: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    return " ".join([PYTHON, str(path), *args, run.token])


# Notes each SIGUSR1 in the file argv[1]; ignores SIGTERM, so only SIGKILL stops it.
STUBBORN = (
    "import os, signal, sys, time\n"
    "def note(*_):\n"
    "    with open(sys.argv[1], 'a') as out:\n"
    "        out.write(f'{os.getpid()}\\n')\n"
    "signal.signal(signal.SIGUSR1, note)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)


def test_signal_and_stop_reach_papa_processes_by_pid(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    notes = tmp_path / "usr1"
    config = papa_config(circus_run, papa_kernel, "signals", (
        f"[watcher:web]\ncmd = {script(circus_run, tmp_path, 'stubborn', STUBBORN, str(notes))}\n"
        "numprocesses = 2\nuse_papa = true\ngraceful_timeout = 1\n"))
    daemon = start(circus_run, config)
    one, two = daemon.wait_pids("web", 2)

    check(circus_run.ours_ctl(daemon.endpoint, "signal", "web", "USR1"))
    wait_for(lambda: notes.exists() and sorted(map(int, notes.read_text().split()))
             == sorted([one, two]), "SIGUSR1 in both processes")
    check(circus_run.ours_ctl(daemon.endpoint, "signal", "web", str(one), "USR1"))
    wait_for(lambda: notes.read_text().split().count(str(one)) == 2, "SIGUSR1 in one process")
    assert notes.read_text().split().count(str(two)) == 1

    # SIGTERM is ignored: the stop escalates to SIGKILL after graceful_timeout.
    check(circus_run.ours_ctl(daemon.endpoint, "stop", "web", "--waiting"))
    assert not alive(one) and not alive(two)
    assert daemon.log_text().count("sending SIGKILL") == 2
    wait_for(lambda: papa_kernel.processes() == {}, "papa to forget the stopped processes")

    check(circus_run.ours_ctl(daemon.endpoint, "start", "web"))
    assert set(daemon.wait_pids("web", 2)).isdisjoint({one, two})


def test_when_papa_dies_its_watchers_fall_back_to_plain_processes(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "outage", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nnumprocesses = 2\nuse_papa = true\n"
        "graceful_timeout = 5\n"))
    daemon = start(circus_run, config)
    stranded = daemon.wait_pids("web", 2)
    papa_kernel.kill()

    wait_for(lambda: f"papa at {papa_kernel.endpoint} is gone" in daemon.log_text(),
             "circusd to say papa is gone")

    def replaced() -> list[int] | None:
        pids = daemon.pids("web")
        fresh = len(pids) == 2 and set(pids).isdisjoint(stranded)
        return pids if fresh and set(pids) <= set(children_of(daemon.process.pid)) else None

    wait_for(replaced, "plain processes of circusd's own")
    wait_for(lambda: not any(alive(pid) for pid in stranded), "papa's processes to be killed")
    assert daemon.log_text().count("is gone") == 1
    assert daemon.call("status")["status"] == "ok"


def test_a_hung_papa_counts_as_gone_and_nothing_waits_for_it(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "hung", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nuse_papa = true\n"
        "graceful_timeout = 5\n"))
    daemon = start(circus_run, config)
    [stranded] = daemon.wait_pids("web", 1)
    papa_kernel.processes()  # remembered for teardown
    os.kill(papa_kernel.process.pid, signal.SIGSTOP)
    try:
        # The spawn asks papa, which never answers: after COMMAND_TIMEOUT (10 s)
        # papa counts as gone and the watcher runs plain processes.
        check(circus_run.ours_ctl(daemon.endpoint, "incr", "web"))
        wait_for(lambda: "did not answer in 10 s" in daemon.log_text(), "the timeout", 30)

        def plain() -> list[int] | None:
            pids = daemon.pids("web")
            ours = set(children_of(daemon.process.pid))
            return pids if len(pids) == 2 and set(pids) <= ours else None

        wait_for(plain, "two plain processes")
        assert not alive(stranded)
        assert daemon.call("status")["status"] == "ok"
    finally:
        os.kill(papa_kernel.process.pid, signal.SIGCONT)


# Serves its own pid to each connection on the inherited listening socket argv[1].
PID_SERVER = (
    "import os, socket, sys\n"
    "server = socket.socket(fileno=int(sys.argv[1]))\n"
    "server.setblocking(True)\n"
    "while True:\n"
    "    conn, _ = server.accept()\n"
    "    conn.sendall(str(os.getpid()).encode())\n"
    "    conn.close()\n"
)


def ask(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        return int(conn.recv(64))


def test_a_papa_socket_and_its_server_keep_serving_while_circusd_restarts(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    port = free_port()
    server = script(circus_run, tmp_path, "pidserver", PID_SERVER, "$(circus.sockets.web)")
    config = papa_config(circus_run, papa_kernel, "sockets", (
        f"[socket:web]\nhost = 127.0.0.1\nport = {port}\nuse_papa = true\n"
        f"[watcher:web]\ncmd = {server}\nuse_papa = true\n"))
    first = start(circus_run, config)
    [pid] = first.wait_pids("web", 1)
    assert ask(port) == pid
    with papa_kernel.client() as client:
        assert set(client.list_sockets()) == {"circus.web"}

    quit_daemon(circus_run, first)
    assert ask(port) == pid  # circusd is down: papa still listens, the server still serves

    second = start(circus_run, config)
    assert second.wait_pids("web", 1) == [pid]
    assert ask(port) == pid
    quit_daemon(circus_run, second)
    with papa_kernel.client() as client:
        client.remove_sockets("circus.web")


def run_circusd(run: CircusRun, config: Path) -> subprocess.CompletedProcess[str]:
    """circusd on *config*, expected to refuse to start."""
    circusd = run.ours_argv("circusd")
    result = subprocess.run([*circusd, str(config)], capture_output=True, text=True,
                            timeout=60, env=run.client_env(dict(os.environ)),
                            cwd=run.tmp_path, check=False)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_a_plain_watcher_cannot_use_a_papa_socket(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "mixed-socket", (
        f"[socket:web]\nhost = 127.0.0.1\nport = {free_port()}\nuse_papa = true\n"
        f"[watcher:web]\ncmd = {sleeper(circus_run)} $(circus.sockets.web)\n"))
    result = run_circusd(circus_run, config)
    assert result.stderr.strip().splitlines()[-1] == (
        "circusd: error: [watcher:web] uses socket 'web', which papa holds (use_papa = true): "
        "set use_papa = true in [watcher:web] too")


def test_options_papa_cannot_serve_are_refused(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "refused", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nuse_papa = true\non_demand = true\n"))
    result = run_circusd(circus_run, config)
    assert result.stderr.strip().splitlines()[-1] == (
        "circusd: error: [watcher:web]: on_demand cannot be used with use_papa (papa holds "
        "the sockets and hands them over only as $(circus.sockets.NAME))")


def test_an_unreachable_papa_endpoint_is_named(circus_run: CircusRun, tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/no-such-dir/papa.sock"
    config, _, _ = circus_run.config("unreachable", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nuse_papa = true\n"),
        f"papa_endpoint = {endpoint}\n")
    result = run_circusd(circus_run, config)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"circusd: error: papa at {endpoint} is unreachable: "), last


class FakeKernel:
    """A unix socket server that greets like papa and answers ``version`` with *reply*."""

    def __init__(self, path: Path, reply: bytes) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        self.server.settimeout(0.05)  # accept() wakes up to see the stop
        self.stopping = threading.Event()
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            with conn:
                conn.sendall(b'Papa is home. Type "help" for commands.\n> ')
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                if data.strip() == b"version":
                    conn.sendall(self.reply)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.server.close()


@pytest.mark.parametrize(("reply", "expected"), [
    (b"Error: Unknown command\n> ", "it does not answer 'version'"),
    (b"version=9.0 protocol=2.0 python=3.12.0\n> ", "it speaks protocol 2.0, circus needs 1.0.6"),
])
def test_an_incompatible_papa_is_refused_clearly(
        circus_run: CircusRun, reply: bytes, expected: str) -> None:
    path = circus_run.sockdir / "fake-papa.sock"
    fake = FakeKernel(path, reply)
    try:
        config, _, _ = circus_run.config("foreign", (
            f"[watcher:web]\ncmd = {sleeper(circus_run)}\nuse_papa = true\n"),
            f"papa_endpoint = ipc://{path}\n")
        result = run_circusd(circus_run, config)
    finally:
        fake.close()
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"circusd: error: papa at ipc://{path} is not compatible: "), last
    assert expected in last


def test_when_papa_dies_circusd_binds_its_sockets_and_serves_with_plain_processes(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    port = free_port()
    server = script(circus_run, tmp_path, "pidserver", PID_SERVER, "$(circus.sockets.web)")
    config = papa_config(circus_run, papa_kernel, "socket-outage", (
        f"[socket:web]\nhost = 127.0.0.1\nport = {port}\nuse_papa = true\n"
        f"[watcher:web]\ncmd = {server}\nuse_papa = true\n"))
    daemon = start(circus_run, config)
    [stranded] = daemon.wait_pids("web", 1)
    assert ask(port) == stranded
    papa_kernel.kill()

    def plain_server() -> int | None:
        pids = daemon.pids("web")
        if len(pids) != 1 or pids[0] == stranded:
            return None
        try:
            return ask(port)
        except OSError:
            return None

    served_by = wait_for(plain_server, "a plain process serving on circusd's socket")
    assert served_by in children_of(daemon.process.pid)
    assert not alive(stranded)


def papa_kernels(path: Path) -> list[int]:
    """Pids of papa kernels listening on *path* (retitled if setproctitle is installed)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"papa" in title and str(path).encode() in title and alive(int(entry)):
            found.append(int(entry))
    return found


def test_without_papa_circusd_starts_one_that_outlives_it(
        circus_run: CircusRun, tmp_path: Path) -> None:
    path = circus_run.sockdir / "auto-papa.sock"
    config, _, _ = circus_run.config("autostart", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nuse_papa = true\n"),
        f"papa_endpoint = ipc://{path}\n")
    workers: list[int] = []
    try:
        daemon = start(circus_run, config)
        workers = daemon.wait_pids("web", 1)
        [papa_pid] = papa_kernels(path)
        assert os.getsid(papa_pid) not in (os.getsid(0), os.getsid(daemon.process.pid))
        quit_daemon(circus_run, daemon)
        assert alive(papa_pid) and alive(workers[0])

        again = start(circus_run, config)
        assert again.wait_pids("web", 1) == workers
        assert papa_kernels(path) == [papa_pid]  # found, not started again
        quit_daemon(circus_run, again)
    finally:
        for pid in workers:
            kill_group(pid)
        for pid in papa_kernels(path):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not papa_kernels(path) and not any(map(alive, workers)),
                 "the auto-started papa and its process to end")
