"""``--log-output syslog://…``: circusd logs to a remote or local syslog."""

from __future__ import annotations

import socket
import sys
import time

from conftest import poll

# syslog PRI = facility * 8 + severity; INFO is severity 6.
DAEMON_INFO = b"<30>"
LOCAL0_INFO = b"<134>"


def _config(circusd) -> str:
    return str(circusd.write("circus.ini", f"[watcher:web]\ncmd = {sys.executable} -c "
                                           "\"import time; time.sleep(60)\"\n"))


def _receive_until(sock: socket.socket, needle: bytes, timeout: float = 15.0) -> list[bytes]:
    sock.settimeout(0.2)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while not any(needle in message for message in got):
        assert time.monotonic() < deadline, got
        try:
            got.append(sock.recv(65536))
        except TimeoutError:
            continue
    return got


def test_remote_syslog_over_udp_with_a_facility(circusd):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        proc = circusd.start("--log-output", f"syslog://127.0.0.1:{port}?daemon", _config(circusd))
        messages = _receive_until(server, b"arbiter running")
        assert proc.stop() == 0
    starting = next(m for m in messages if b"circusd" in m and b"starting" in m)
    assert starting.startswith(DAEMON_INFO), starting
    assert proc.stdout() == ""  # everything went to syslog


def test_local_syslog_socket_with_a_facility(circusd, tmp_path):
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        proc = circusd.start("--log-output", f"syslog://{path}?local0", _config(circusd))
        poll(lambda: proc.children(), timeout=15)
        messages = _receive_until(server, b"arbiter running")
        assert proc.stop() == 0
    assert all(m.startswith(LOCAL0_INFO) for m in messages), messages[:3]
