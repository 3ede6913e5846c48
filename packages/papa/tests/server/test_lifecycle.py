"""Starting, daemonizing and stopping the kernel; what outlives it."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import tomllib
from papa.server._version import __version__

from .conftest import NOTHING_LEFT, Client, alive, child, field, free_port, wait_for


def daemonize(kernel, *where: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "papa.server", "--daemonize", *where],
        env=kernel.env(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip


def test_daemonize_returns_once_listening(make_kernel):
    kernel = make_kernel(start=False)
    path = str(kernel.short / "d.sock")
    result = daemonize(kernel, "-u", path)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    conn = Client(path)  # no waiting: it must already listen
    pid = int(field(conn.ok("stats"), "pid"))
    status = Path(f"/proc/{pid}/status").read_text()
    # The parent is gone (we, the subreaper, adopted the kernel) and the
    # kernel is not a session leader; its cwd is / and its output /dev/null.
    assert f"PPid:\t{os.getpid()}" in status
    assert os.getsid(pid) != pid and os.readlink(f"/proc/{pid}/cwd") == "/"
    assert os.readlink(f"/proc/{pid}/fd/1") == "/dev/null"
    assert stat_mode(path) & 0o007 == 0  # umask 027
    # setproctitle is installed for the tests (requirements-dev.txt), so the
    # daemon renames itself for ps and top.
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert cmdline.startswith(b"papa daemon from "), cmdline
    assert cmdline.rstrip(b"\0").endswith(f" on {path}".encode()), cmdline
    conn.close()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), what="daemon to exit")
    assert not os.path.exists(path)


def stat_mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777


def test_daemonize_tcp_and_refusal(make_kernel):
    kernel = make_kernel(start=False)
    port = free_port()
    assert daemonize(kernel, "-p", str(port)).returncode == 0
    conn = Client(("127.0.0.1", port))
    pid = int(field(conn.ok("stats"), "pid"))
    second = daemonize(kernel, "-p", str(port))
    assert second.returncode == 1 and b"Address already in use" in second.stderr
    conn.send(b"exit-if-idle\n")
    assert conn.read_eof() == b"Exiting papa!\n> "
    conn.close()
    wait_for(lambda: not alive(pid), what="daemon to exit")


def test_foreground_refuses_a_live_unix_path(kernel):
    result = subprocess.run(
        [sys.executable, "-m", "papa.server", "-u", kernel.address],
        env=kernel.env(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and b"another papa is already listening" in result.stderr
    kernel.client().ok("version")


def test_sigterm_removes_unix_socket_and_processes_survive(kernel, client):
    pid = int(field(client.ok(f"m p nap {child('import time; time.sleep(60)')}"), "pid"))
    client.ok("m s web")
    kernel.proc.send_signal(signal.SIGTERM)
    assert kernel.proc.wait(10) == 0
    assert not os.path.exists(kernel.address)
    assert alive(pid)


def test_exit_if_idle_waits_for_last_client_and_new_client_cancels(kernel):
    stayer, leaver = kernel.client(), kernel.client()
    leaver.send(b"exit-if-idle\n")
    assert leaver.read_eof() == b"Exiting papa!\n> "
    canceller = kernel.client()  # cancels the pending exit
    stayer.close()
    canceller.close()
    late = kernel.client()
    assert late.ok("version").startswith("version=")
    holder = kernel.client()
    late.send(b"exit-if-idle\n")
    assert late.read_eof() == b"Exiting papa!\n> "
    holder.ok("set x y")  # not idle any more when the last client leaves
    holder.close()
    last = kernel.client()
    assert last.cmd("exit-if-idle") == b"not idle\n> "
    last.ok("set x")
    last.send(b"exit-if-idle\n")
    assert last.read_eof() == b"Exiting papa!\n> "
    assert kernel.proc.wait(10) == 0
    assert not os.path.exists(kernel.address)


def test_sigchld_fallback_without_pidfd(make_kernel):
    kernel = make_kernel(PAPA_NO_PIDFD="1")
    client = kernel.client()
    client.ok(f"m p seven {child('raise SystemExit(7)')}")
    pid = int(field(client.ok(f"m p nap {child('import time; time.sleep(60)')}"), "pid"))
    os.kill(pid, signal.SIGTERM)
    client.send(b"w p seven nap\n")
    client.read_until(b"Watching 2\n")
    batches = client.read_until(b"\n] ")
    while batches.count(b"closed:") < 2:
        client.send(b"\n")
        batches += client.read_until(b"\n] ")
    assert b":7\n" in batches and b":-15\n" in batches
    assert client.cmd("") == NOTHING_LEFT


def test_version_option_and_console_script(kernel):
    module = subprocess.run(
        [sys.executable, "-m", "papa.server", "--version"],
        env=kernel.env(), capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    assert module.stdout.startswith(f"papa {__version__} ".encode())
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
    assert pyproject["project"]["scripts"] == {"papa": "papa.server:main"}
    assert pyproject["project"]["dependencies"] == []
    scripts = importlib.metadata.entry_points(group="console_scripts", name="papa")
    if scripts:  # installed wheel (make test): run the real script
        command = [str(Path(sysconfig.get_path("scripts")) / "papa"), "--version"]
    else:  # source tree: the same entry point, called the way the script does
        command = [sys.executable, "-c", "from papa.server import main; main(['--version'])"]
    result = subprocess.run(command, env=kernel.env(), capture_output=True, timeout=30)
    assert result.stdout == module.stdout
