"""The builtin ZMTP transport against real libzmq ROUTER sockets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest
import zmq
from circus.client import CallTimeout, CircusClient, ConnectionFailed, ProtocolError
from circus.client._zmtp import ZmtpDealer, supports
from conftest import FakeDaemon, ctl_env


def builtin(endpoint: str, **kwargs) -> CircusClient:
    return CircusClient(endpoint, transport="builtin", **kwargs)


def test_calls_over_tcp_with_short_and_long_frames(daemon):
    big = "x" * 100_000  # a long frame each way (> 255 bytes)
    daemon.replies["options"] = lambda request: {"options": {"echo": request["properties"]}}
    with builtin(daemon.endpoint) as client:
        assert client.call("list")["status"] == "ok"
        reply = client.call("options", name=big)
        again = client.call("options", name="w")
    assert reply["options"]["echo"] == {"name": big}
    assert again["options"]["echo"] == {"name": "w"}
    assert [r["command"] for r in daemon.requests] == ["list", "options", "options"]


def test_calls_over_ipc(tmp_path):
    fake = FakeDaemon(f"ipc://{tmp_path}/ctl.sock")
    try:
        fake.replies["numwatchers"] = {"numwatchers": 3}
        with builtin(fake.endpoint) as client:
            assert client.call("numwatchers")["numwatchers"] == 3
    finally:
        fake.close()


def test_stray_reply_with_another_id_is_ignored(daemon):
    daemon.replies["status"] = lambda request: [
        {"status": "ok", "id": "0" * 32, "stray": True},
        {"status": "ok", "id": request["id"], "real": True},
    ]
    with builtin(daemon.endpoint) as client:
        assert client.call("status").get("real") is True


def test_timeout_names_the_endpoint(daemon):
    daemon.silent = True
    with builtin(daemon.endpoint, timeout=0.2) as client, pytest.raises(CallTimeout) as info:
        client.call("status")
    assert daemon.endpoint in str(info.value)


def test_refused_and_missing_ipc_fail_fast(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionFailed) as refused:
        builtin(f"tcp://127.0.0.1:{port}").call("status")
    assert refused.value.kind == "refused"
    with pytest.raises(ConnectionFailed) as missing:
        builtin(f"ipc://{tmp_path}/nothing.sock").call("status")
    assert missing.value.kind == "missing"


def test_a_daemon_going_away_is_a_connection_failure_then_reconnects(tmp_path):
    endpoint = f"ipc://{tmp_path}/ctl.sock"
    daemon = FakeDaemon(endpoint)
    with builtin(endpoint) as client:
        assert client.call("list")["status"] == "ok"
        daemon.close()
        with pytest.raises((ConnectionFailed, CallTimeout)):
            client.timeout = 0.5
            client.call("list")
        revived = FakeDaemon(endpoint)
        try:
            client.timeout = 5
            assert client.call("list")["status"] == "ok"
        finally:
            revived.close()


def test_a_curve_server_is_refused_with_a_clear_error():
    if not zmq.has("curve"):
        pytest.fail("libzmq was built without CURVE; this test needs it")
    context = zmq.Context()
    server = context.socket(zmq.ROUTER)
    server.setsockopt(zmq.LINGER, 0)
    _public, secret = zmq.curve_keypair()
    server.curve_server = True
    server.curve_secretkey = secret
    port = server.bind_to_random_port("tcp://127.0.0.1")
    try:
        with pytest.raises(ProtocolError, match="security mechanism"):
            ZmtpDealer(f"tcp://127.0.0.1:{port}", b"id", timeout=5)
    finally:
        server.close()
        context.term()


def test_builtin_hands_over_to_pyzmq_when_it_cannot_serve(daemon):
    assert supports("tcp://127.0.0.1:5555") and supports("ipc:///run/c.sock")
    assert not supports("tcp://eth0;127.0.0.1:5555") and not supports("inproc://x")
    context = zmq.Context()
    try:
        with builtin(daemon.endpoint, context=context) as client:
            assert client.call("list")["status"] == "ok"
            assert not client._builtin_usable()
    finally:
        context.term()


def test_routers_see_our_identity_and_a_single_frame():
    context = zmq.Context()
    server = context.socket(zmq.ROUTER)
    server.setsockopt(zmq.LINGER, 0)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    got: list[list[bytes]] = []

    def serve() -> None:
        if server.poll(5000):
            frames = server.recv_multipart()
            got.append(frames)
            server.send_multipart([frames[0], b"pong"])

    thread = threading.Thread(target=serve)
    thread.start()
    dealer = ZmtpDealer(f"tcp://127.0.0.1:{port}", b"my-identity", timeout=5)
    try:
        dealer.send(b"ping")
        assert dealer.poll(5) and dealer.recv() == b"pong"
    finally:
        thread.join()
        dealer.close()
        server.close()
        context.term()
    assert got == [[b"my-identity", b"ping"]]


def test_circusctl_never_imports_pyzmq_for_a_command(daemon):
    daemon.replies["status"] = {"statuses": {"a": "active"}}
    code = ("import sys, runpy; sys.argv = ['circusctl', '--endpoint', sys.argv[1], 'status']\n"
            "try:\n    runpy.run_module('circus.circusctl', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'zmq')))")
    result = subprocess.run([sys.executable, "-c", "import json\n" + code, daemon.endpoint],
                            capture_output=True, text=True, env=ctl_env(), timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "a: active"
    assert json.loads(lines[-1]) == []
