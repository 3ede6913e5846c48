"""Bad command lines and taken addresses: one line, the right exit status."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import child_env


def run_stats(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "circus.stats", *args], cwd=cwd,
                          env=child_env(), capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "needle"), [
    (["--prometheus", "9100"], "--prometheus expects HOST:PORT"),
    (["--prometheus", "localhost:http"], "--prometheus expects HOST:PORT"),
    (["--interval", "0"], "--interval must be a positive number"),
    (["--interval", "soon"], "--interval expects seconds"),
    (["--statspoint", "127.0.0.1:5557"], "is not a ZeroMQ endpoint"),
    (["--log-level", "chatty"], "invalid choice: 'chatty'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    # The shared checks of circus.client.cli, as circus-top and circusctl make them.
    (["--endpoint", "tcp://127.0.0.1:70000"], "port 70000 is out of range"),
    (["--pubsub", "tcp://127.0.0.1"], "expected tcp://HOST:PORT with a numeric port"),
    (["--ssh-keyfile", "id_rsa"], "--ssh-keyfile needs --ssh"),
    (["--interval", "inf"], "--interval must be a positive number"),
    # CURVE: both keys, and the directory of subscribers' keys with them.
    (["--curve-key", "a.key_secret"], "--curve-server-key is missing"),
    (["--curve-server-key", "nope.key", "--curve-key", "nope.key_secret"],
     "CURVE key file nope.key: cannot read it"),
    (["--curve-authorized-keys", "."], "--curve-authorized-keys needs --curve-server-key"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                              needle: str) -> None:
    result = run_stats(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("circusd-stats: error: "), result.stderr
    assert needle in lines[0]


def test_taken_statspoint_names_the_address_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        result = run_stats("--statspoint", address, "--endpoint", f"ipc://{tmp_path}/c",
                           "--pubsub", f"ipc://{tmp_path}/p", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and address in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_taken_prometheus_port_names_the_address_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_stats("--prometheus", f"127.0.0.1:{port}", "--statspoint",
                           f"ipc://{tmp_path}/s", "--endpoint", f"ipc://{tmp_path}/c",
                           "--pubsub", f"ipc://{tmp_path}/p", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "Prometheus" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run_stats("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("circusd-stats ")
