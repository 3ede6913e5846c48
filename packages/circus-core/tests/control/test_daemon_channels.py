"""The channels of a real circusd: bind failures, endpoint_owner, quit over the wire."""

from __future__ import annotations

import os
import pwd
import socket
import sys

import pytest
from circus.errors import CircusError

from ._client import Client

CONFIG = ("[watcher:sleeper]\ncmd = {python} -c 'import time; time.sleep(60)'\n"
          "graceful_timeout = 2\n")


def test_circusd_answers_and_quits_over_the_wire(circusd):
    config = circusd.write("circus.ini", CONFIG.format(python=sys.executable))
    proc = circusd.start(str(config))
    proc.wait_children(1)
    assert circusd.call("status", name="sleeper")["status"] == "active"
    reply = circusd.call("quit", waiting=True)
    assert reply["status"] == "ok"
    assert proc.popen.wait(timeout=20) == 0
    assert not proc.children()
    assert "Traceback" not in proc.stderr()


def test_a_busy_endpoint_is_one_clear_line_and_exit_1(circusd):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = circusd.write("busy.ini", f"[circus]\nendpoint = tcp://127.0.0.1:{port}\n"
                               f"pubsub_endpoint = {circusd.pubsub_endpoint}\n\n"
                               + CONFIG.format(python=sys.executable))
        result = circusd.run(str(config))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("circusd: error: cannot bind the control channel on "
                                f"tcp://127.0.0.1:{port}")
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_ipc_directory_is_a_clear_error(circusd, tmp_path):
    endpoint = f"ipc://{tmp_path}/missing/dir/ctl"
    config = circusd.write("badipc.ini", f"[circus]\nendpoint = {endpoint}\n"
                           f"pubsub_endpoint = {circusd.pubsub_endpoint}\n\n"
                           + CONFIG.format(python=sys.executable))
    result = circusd.run(str(config))
    assert result.returncode == 1
    assert f"cannot bind the control channel on {endpoint}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_endpoint_owner_gets_the_ipc_socket(make_arbiter, ipc_dir):
    nobody = pwd.getpwnam("nobody").pw_uid
    harness = await make_arbiter(channels=True, endpoint_owner="nobody")
    assert harness.arbiter.endpoint_owner_uid == nobody
    path = harness.arbiter.endpoint[len("ipc://"):]
    assert os.stat(path).st_uid == nobody


async def test_without_endpoint_owner_the_socket_stays_ours(make_arbiter):
    harness = await make_arbiter(channels=True)
    assert harness.arbiter.endpoint_owner_uid is None
    assert os.stat(harness.arbiter.endpoint[len("ipc://"):]).st_uid == os.geteuid()


async def test_an_unknown_endpoint_owner_is_refused(make_arbiter):
    with pytest.raises(CircusError, match="endpoint_owner 'no-such-user-x': no such user"):
        await make_arbiter(channels=True, endpoint_owner="no-such-user-x")


async def test_the_channels_close_with_the_arbiter(make_arbiter):
    harness = await make_arbiter(channels=True)
    await harness.arbiter.stop()
    harness.arbiter.close()
    assert not harness.arbiter.channels.is_open
    async with Client(harness.arbiter.endpoint) as client:
        await client.send(b'{"command": "list", "id": "late"}')
        assert await client.nothing(0.3)
