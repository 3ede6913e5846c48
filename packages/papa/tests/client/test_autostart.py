"""Auto-start: a client that finds no kernel starts ours, detached, exactly once."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import papa
import pytest
from papa._autostart import Endpoint, debug_kernels

from .conftest import free_port, kernel_pids, process_exists, stop_daemon_kernels, wait_for

STARTED = "started a papa kernel"


@pytest.fixture
def port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A free port with no kernel; start locks go to tmp_path; any kernel is stopped after."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    port = free_port()
    try:
        yield port
    finally:
        stop_daemon_kernels(str(port))


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_missing_kernel_is_started_detached(port: int) -> None:
    with papa.Papa(port, connection_timeout=15) as client:
        client.set("started", "yes")
        [pid] = kernel_pids(str(port))
        assert parent_of(pid) != os.getpid()
        assert os.getsid(pid) != os.getsid(0)
        assert [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)] == ["/dev/null"] * 3
        client.remove_values("started")
        assert client.exit_if_idle() is True
    wait_for(lambda: not process_exists(pid), 10, "the idle kernel to exit")


def test_racing_threads_start_one_kernel(port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="papa.client")
    barrier = threading.Barrier(4)
    clients: list[papa.Papa] = []
    errors: list[BaseException] = []

    def connect(number: int) -> None:
        barrier.wait()
        try:
            client = papa.Papa(port, connection_timeout=20)
            client.set(f"thread.{number}", "here")
            clients.append(client)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=connect, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert [r.getMessage() for r in caplog.records].count(f"{STARTED} at 127.0.0.1:{port}") == 1
        assert len(kernel_pids(str(port))) == 1
        assert len(clients[0].list_values("thread.*")) == 4  # all four reached one kernel
    finally:
        for client in clients:
            client.close()


def test_racing_processes_start_one_kernel(port: int, tmp_path: Path) -> None:
    go = tmp_path / "go"
    racer = (
        "import logging, os, sys, time, papa\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "while not os.path.exists(sys.argv[1]):\n"
        "    time.sleep(0.002)\n"
        "with papa.Papa(int(sys.argv[2]), connection_timeout=20) as p:\n"
        "    p.set('proc.' + sys.argv[3], 'here')\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    racers = [subprocess.Popen([sys.executable, "-c", racer, str(go), str(port), str(n)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
              for n in range(3)]
    go.touch()
    outputs = [racer.communicate(timeout=60)[0].decode() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0], outputs
    assert "".join(outputs).count(STARTED) == 1, outputs
    assert len(kernel_pids(str(port))) == 1
    with papa.Papa(port, connection_timeout=5) as client:
        assert len(client.list_values("proc.*")) == 3


def test_a_unix_socket_kernel_is_started_and_cleans_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = str(tmp_path / "k.sock")
    try:
        with papa.Papa(path, connection_timeout=15) as client:
            [pid] = kernel_pids(path)
            assert client.list_processes() == {}
            assert client.exit_if_idle() is True
        wait_for(lambda: not process_exists(pid), 10, "the idle kernel to exit")
        assert not os.path.exists(path)
    finally:
        stop_daemon_kernels(path)


def test_no_kernel_within_the_timeout_is_an_error(port: int) -> None:
    # Another starter holds the start lock and never starts anything.
    with open(Endpoint(port=port).lock_path, "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        start = time.monotonic()
        with pytest.raises(papa.Error) as error:
            papa.Papa(port, connection_timeout=0.5)
        assert 0.5 <= time.monotonic() - start < 5
    assert str(error.value) == "Could not connect to Papa in 0.5 seconds"
    assert kernel_pids(str(port)) == []


def test_a_kernel_that_cannot_start_is_reported(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = str(tmp_path / "missing-dir" / "k.sock")
    start = time.monotonic()
    with pytest.raises(papa.Error, match="Could not start a papa kernel"):
        papa.Papa(path, connection_timeout=20)
    assert time.monotonic() - start < 15
    assert kernel_pids(path) == []


def test_debug_mode_runs_the_kernel_as_a_foreground_child(port: int) -> None:
    papa.set_debug_mode(True, quit_when_connection_closed=True)
    with papa.Papa(port, connection_timeout=15) as client:
        [pid] = kernel_pids(str(port))
        assert parent_of(pid) == os.getpid()
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            assert b"\0-d\0" in cmdline.read()
        client.set("k", "v")
    assert not process_exists(pid)  # stopped and reaped when the client closed


def test_debug_kernel_outlives_the_connection_until_the_client_exits(port: int) -> None:
    papa.set_debug_mode(True)
    with papa.Papa(port, connection_timeout=15):
        [pid] = kernel_pids(str(port))
    assert process_exists(pid)
    with papa.Papa(port, connection_timeout=5) as client:
        assert client.list_values() == {}
    debug_kernels.stop_all()  # what the client's atexit hook does
    assert not process_exists(pid)
