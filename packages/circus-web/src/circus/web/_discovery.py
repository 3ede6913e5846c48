"""Finding circusd daemons by UDP multicast (``--multicast``).

A circusd with ``multicast_endpoint`` set answers any datagram sent to its
group with ``{"endpoint": "<control endpoint>"}``; we send one probe and
collect the answers for a short while.
"""

from __future__ import annotations

import json
import socket
import time

from circus.client.protocol import EndpointError, parse_endpoint


def parse_multicast(text: str) -> tuple[str, int]:
    """``udp://group:port`` → ``(group, port)``; ValueError naming the value."""
    try:
        parsed = parse_endpoint(text, ("udp",))
    except EndpointError:
        parsed = None
    if parsed is None or parsed.host is None or parsed.port is None:
        raise ValueError(f"--multicast {text!r}: expected udp://group:port")
    return parsed.host, parsed.port


def discover(group: str, port: int, wait: float = 1.0) -> list[str]:
    """The control endpoints that answered within ``wait`` seconds, in order, unique."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.bind(("0.0.0.0", 0))
        sock.sendto(b'{"query": "circusd"}', (group, port))
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(4096)
            except TimeoutError:
                break
            try:
                endpoint = json.loads(data).get("endpoint")
            except (ValueError, AttributeError):
                continue
            if isinstance(endpoint, str) and endpoint not in found:
                found.append(endpoint)
    return found
