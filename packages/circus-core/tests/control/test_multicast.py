"""Multicast discovery: off by default, and answers with the control endpoint when on."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

from circus._daemon.from_config import build_arbiter
from circus.config import parse_config_text


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _discover(group: str, port: int, timeout: float = 3.0) -> dict[str, Any] | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        # Loopback only: works in a container without a default route.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            sock.sendto(b'""', (group, port))
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.2)
            except asyncio.TimeoutError:
                continue
            reply: dict[str, Any] = json.loads(data)
            return reply
        return None
    finally:
        sock.close()


async def test_discovery_answers_with_the_control_endpoint(make_arbiter):
    port = _free_udp_port()
    harness = await make_arbiter(channels=True, multicast_endpoint=f"udp://239.255.13.7:{port}")
    assert harness.arbiter.channels.multicast is not None
    assert harness.arbiter.channels.multicast.active
    assert await _discover("239.255.13.7", port) == {"endpoint": harness.arbiter.endpoint}


async def test_discovery_is_off_unless_configured(make_arbiter, tmp_path):
    config = parse_config_text("[watcher:a]\ncmd = sleep 60\n", tmp_path / "c.ini")
    assert build_arbiter(config).multicast_endpoint is None
    config = parse_config_text("[circus]\nmulticast_endpoint = udp://239.255.13.8:4000\n",
                               tmp_path / "c.ini")
    assert build_arbiter(config).multicast_endpoint == "udp://239.255.13.8:4000"
    harness = await make_arbiter(channels=True)
    assert harness.arbiter.channels.multicast is None


async def test_a_socket_failure_only_warns(make_arbiter, caplog):
    harness = await make_arbiter(channels=True, multicast_endpoint="udp://not-an-ip:12027")
    assert harness.arbiter.channels.multicast is not None
    assert not harness.arbiter.channels.multicast.active
    assert "multicast discovery" in caplog.text and "disabled" in caplog.text
    assert harness.arbiter.channels.controller is not None
