"""Opt-in multicast discovery: answer "where is your control channel?".

Every datagram received on the multicast group gets the UDP reply
``{"endpoint": "<control endpoint>"}``, as upstream's circus-web expects.
Unlike upstream this is off unless ``multicast_endpoint`` is set in the
configuration (an open discovery service should be a deliberate choice).
A socket failure only logs a warning: discovery is a convenience.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from typing import cast

from circus._base.protocol import EndpointError, parse_endpoint

logger = logging.getLogger("circus")


def parse_udp_endpoint(endpoint: str) -> tuple[str, int]:
    """``udp://group:port`` → ``(group, port)``; ValueError naming what is wrong."""
    problem = f"multicast_endpoint {endpoint!r}: expected udp://group:port"
    try:
        parsed = parse_endpoint(endpoint, ("udp",))
    except EndpointError:
        raise ValueError(problem) from None
    if parsed.host is None or parsed.port is None:  # parse_endpoint sets both for udp
        raise ValueError(problem)
    return parsed.host, parsed.port


def _join(sock: socket.socket, group: str) -> None:
    """Join ``group`` on the default interface and on loopback.

    Loopback is joined too so that discovery works on the same host even in
    a container or laptop without a default route (where the default join
    fails with ENODEV).
    """
    joined = False
    for interface in ("0.0.0.0", "127.0.0.1"):
        request = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
            joined = True
        except OSError as exc:
            logger.debug("multicast: cannot join %s on %s: %s", group, interface, exc)
    if not joined:
        raise OSError(f"cannot join multicast group {group} on any interface")


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(self.reply, addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("multicast discovery: %s", exc)


class MulticastResponder:
    """Answers discovery datagrams on ``multicast_endpoint`` with ``control_endpoint``."""

    def __init__(self, multicast_endpoint: str, control_endpoint: str) -> None:
        self.multicast_endpoint = multicast_endpoint
        self.control_endpoint = control_endpoint
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None

    @property
    def active(self) -> bool:
        """Whether the responder is listening."""
        return self._transport is not None

    async def start(self) -> None:
        """Join the group and answer; on failure log a warning and stay inactive."""
        try:
            group, port = parse_udp_endpoint(self.multicast_endpoint)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        except (ValueError, OSError) as exc:
            logger.warning("multicast discovery disabled: %s", exc)
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(AttributeError, OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("", port))
            _join(sock, group)
            sock.setblocking(False)
            reply = json.dumps({"endpoint": self.control_endpoint}).encode()
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Responder(reply), sock=sock)
        except OSError as exc:
            sock.close()
            logger.warning("multicast discovery on %s disabled: %s",
                           self.multicast_endpoint, exc)
            return
        self._transport = transport
        self._sock = sock
        logger.info("answering discovery on %s", self.multicast_endpoint)

    def close(self) -> None:
        """Leave the group and close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._sock is not None:
            # The transport closes its socket on the next loop pass, which may
            # never come during shutdown; closing twice is harmless.
            self._sock.close()
            self._sock = None
