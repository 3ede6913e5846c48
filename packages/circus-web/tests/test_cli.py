"""circushttpd's command line: one-line errors, refusals, --version, --hash-password, --fd."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from circus.web import verify_password

from .conftest import CIRCUSHTTPD, Client, wait_for


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([CIRCUSHTTPD, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize(("args", "message"), [
    (["--endpoint", "http://nope"], "circushttpd: error: invalid endpoint 'http://nope'"),
    (["--endpoint", "tcp://127.0.0.1:5555,stats"], "unknown part 'stats'"),
    (["--certfile", "c.pem"], "--certfile and --keyfile go together"),
    (["--multicast", "tcp://1.2.3.4:5"], "expected udp://group:port"),
    (["--port", "0"], "--port 0: expected 1-65535"),
    (["--log-level", "loud"], "argument --log-level"),
    (["--curve-key", "a.key_secret"], "--curve-server-key is missing"),
    (["--curve-server-key", "nope.key", "--curve-key", "nope.key_secret"],
     "CURVE key file nope.key: cannot read it"),
])
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    out = run(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


def test_refuses_a_public_address_without_authentication() -> None:
    out = run("--host", "0.0.0.0", "--port", "1")
    assert out.returncode == 1
    assert out.stderr == ("circushttpd: error: refusing to serve on 0.0.0.0 without "
                          "authentication: give --users-file or --token-file, or listen on "
                          "127.0.0.1\n")


def test_refuses_an_inherited_public_socket_without_authentication() -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        proc = subprocess.run([CIRCUSHTTPD, "--fd", str(sock.fileno())], pass_fds=[sock.fileno()],
                              capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "refusing to serve on 0.0.0.0" in proc.stderr


def test_bad_users_file_is_one_line(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("alice admin plain-password\n")
    out = run("--users-file", str(users), "--port", "1")
    assert out.returncode == 1
    assert out.stderr == (f"circushttpd: error: users file {users}, line 1: the hash is not a "
                          "circushttpd --hash-password hash\n")


def test_version_and_hash_password() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("circushttpd 0.")
    out = run("--hash-password", stdin="correct horse\n")
    assert out.returncode == 0
    assert verify_password("correct horse", out.stdout.strip())


def test_serves_on_an_inherited_socket(daemons: Any, tmp_path: Path) -> None:
    """--fd, as circusd passes $(circus.sockets.circushttpd)."""
    circusd = daemons("")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.Popen([CIRCUSHTTPD, "--fd", str(sock.fileno()), "--endpoint",
                                 circusd.endpoint], pass_fds=[sock.fileno()],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = Client(f"http://127.0.0.1:{port}")
        wait_for(lambda: client.state()["nodes"][0]["state"] == "up", what="node up")
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
        proc.communicate()


def test_a_log_file_that_cannot_be_opened(tmp_path: Path) -> None:
    out = run("--log-output", str(tmp_path / "no" / "such" / "dir.log"))
    assert out.returncode == 1
    assert out.stderr.startswith("circushttpd: error: cannot open the log file")


def test_endpoints_file(daemons: Any, webs: Any, tmp_path: Path) -> None:
    first, second = daemons("", name="a"), daemons("", name="b")
    listing = tmp_path / "endpoints"
    listing.write_text(f"# the fleet\n{first.endpoint}\n\n"
                       f"{second.endpoint},pubsub={second.pubsub}\n")
    web = webs("--endpoints-file", str(listing))
    client = Client(web.base)
    wait_for(lambda: [n["state"] for n in client.state()["nodes"]] == ["up", "up"],
             what="both nodes up")
    assert [n["endpoint"] for n in client.state()["nodes"]] == [first.endpoint, second.endpoint]
    out = run("--endpoints-file", str(tmp_path / "missing"))
    assert out.returncode == 2 and "No such file" in out.stderr
