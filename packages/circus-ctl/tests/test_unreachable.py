"""An unreachable daemon gets a one-line diagnosis naming the endpoint and a fix, fast."""

from __future__ import annotations

import os
import pwd
import socket
import sys
import tempfile
import time

import pytest
from conftest import FakeDaemon, assert_no_traceback, ctl_env, run_ctl


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_on_tcp_is_reported_without_waiting():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_ctl("--endpoint", endpoint, "--timeout", "30", "status")
    assert time.monotonic() - started < 10  # not the 30 s timeout
    assert result.returncode == 1
    assert endpoint in result.stderr
    assert "connection refused" in result.stderr and "start it" in result.stderr
    assert "CIRCUSCTL_ENDPOINT" in result.stderr
    assert result.stderr.count("\n") == 1
    assert_no_traceback(result)


def test_missing_ipc_file(tmp_path):
    endpoint = f"ipc://{tmp_path}/circus.sock"
    result = run_ctl("--endpoint", endpoint, "--timeout", "30", "list")
    assert result.returncode == 1
    assert endpoint in result.stderr and "does not exist" in result.stderr
    assert_no_traceback(result)


def test_stale_ipc_file_is_refused(tmp_path):
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # bound, never listening: like a dead daemon's leftover
        result = run_ctl("--endpoint", f"ipc://{path}", "list")
    assert result.returncode == 1
    assert "connection refused" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize("endpoint", ["nonsense", "tcp://127.0.0.1:notaport",
                                      "tcp://no-such-host.invalid:5555"])
def test_bad_endpoint(endpoint):
    result = run_ctl("--endpoint", endpoint, "list")
    assert result.returncode == 1
    assert endpoint in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(("endpoint", "why"), [
    ("localhost:5555", "this is not a ZeroMQ endpoint; expected tcp://HOST:PORT or ipc://PATH"),
    ("tcp://127.0.0.1:0", "port 0 is out of range (1-65535)"),
    ("tcp://127.0.0.1:notaport", "expected tcp://HOST:PORT with a numeric port"),
])
def test_bad_endpoint_is_described_as_circus_client_protocol_does(endpoint, why):
    # The same words as circus-top and circusd-stats, from circus.client.protocol.
    result = run_ctl("--endpoint", endpoint, "list")
    assert result.returncode == 1
    assert result.stderr == f"error: invalid endpoint {endpoint!r}: {why}\n"


def test_busy_daemon_times_out_with_advice(daemon):
    daemon.silent = True
    result = run_ctl("--endpoint", daemon.endpoint, "--timeout", "0.3", "status")
    assert result.returncode == 1
    assert daemon.endpoint in result.stderr
    assert "within 0.3s" in result.stderr and "--timeout" in result.stderr
    assert "Timed out." not in result.stderr
    assert_no_traceback(result)


# Python lives under /root here, so a process started as nobody could not even
# load it: start as root, import everything, then drop to nobody before calling.
DROP_AND_RUN = """
import os, sys, locale, shutil, gettext  # argparse imports these lazily
import circus.client._probe, circus.client._zmtp  # the client imports these lazily
from circus.circusctl import main
os.setgid({gid}); os.setuid({uid})
sys.exit(main(sys.argv[1:]))
"""


def test_permission_denied_on_ipc_file():
    nobody = pwd.getpwnam("nobody")
    directory = tempfile.mkdtemp(prefix="circusctl-perm-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "circus.sock")
    fake = FakeDaemon(f"ipc://{path}")
    try:
        os.chmod(path, 0)
        import subprocess

        code = DROP_AND_RUN.format(uid=nobody.pw_uid, gid=nobody.pw_gid)
        result = subprocess.run(
            [sys.executable, "-c", code, "--endpoint", f"ipc://{path}", "--timeout", "30",
             "status"], capture_output=True, text=True, timeout=30,
            env=ctl_env(), cwd=directory)
        assert result.returncode == 1, result
        assert "permission denied" in result.stderr
        assert "endpoint_owner" in result.stderr
        assert_no_traceback(result)
        assert fake.requests == []
    finally:
        fake.close()
        os.unlink(path)
        os.rmdir(directory)
