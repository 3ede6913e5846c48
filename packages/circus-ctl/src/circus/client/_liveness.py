"""Is the far end of a subscriber still there? ZMTP heartbeats and a socket monitor tell.

ZeroMQ reconnects a SUB by itself; what a long-running client lacks is
knowing that the publisher went away. A cut link sends no FIN, so without
help a SUB waits forever on a dead connection. With :func:`heartbeat_options`
libzmq pings the connection every ``interval`` (answered inside libzmq on
both sides, waking no Python code) and drops it after ``missed`` silent
intervals; :func:`link_changes` turns the connection's life, read from a
socket monitor, into up and down changes on the caller's loop.

``CONNECT_TIMEOUT`` matters for the recovery: a reconnect attempted while
the link is down sends a SYN that is lost, and the kernel retransmits it 1,
2, 4... seconds apart; without a bound the first retransmit after the link
returns could be seconds late. Bounded, libzmq abandons the attempt and
tries again every ``interval``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import NamedTuple

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

_WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


class LinkChange(NamedTuple):
    """The connection came up (``up``) or went down, and why, in words for a log line."""

    up: bool
    reason: str


def heartbeat_options(interval: float, missed: int = 3) -> dict[int, int]:
    """SUB socket options (for ``open_sub``) that watch the connection every ``interval`` s.

    Args:
        interval: seconds between two heartbeats, and between two reconnect
            attempts (at least 0.1).
        missed: silent intervals after which the connection is dropped.
    """
    interval_ms = max(int(interval * 1000), 100)
    return {
        zmq.HEARTBEAT_IVL: interval_ms,
        zmq.HEARTBEAT_TIMEOUT: interval_ms * missed,
        zmq.HEARTBEAT_TTL: interval_ms * missed,
        zmq.RECONNECT_IVL: interval_ms,
        zmq.CONNECT_TIMEOUT: interval_ms,
    }


async def link_changes(sock: zmq.asyncio.Socket, silence: float | None = None
                       ) -> AsyncGenerator[LinkChange, None]:
    """Every change of ``sock``'s connection, as it happens (runs until closed or cancelled).

    Iterate it inside ``contextlib.aclosing``: closing the generator closes
    its monitor socket, which must happen before the context terminates.

    Args:
        sock: a connected asyncio socket, best with :func:`heartbeat_options`.
        silence: the heartbeat timeout in seconds, named in the reason of a drop.
    """
    monitor = sock.get_monitor_socket(_WATCHED)
    dropped = "the connection dropped (the far end stopped" + (
        f", or no heartbeat for {silence:g}s)" if silence else ")")
    try:
        while True:
            event = parse_monitor_message(await monitor.recv_multipart())["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                yield LinkChange(True, "connected")
            elif event == zmq.EVENT_DISCONNECTED:
                yield LinkChange(False, dropped)
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                yield LinkChange(False, "the handshake was refused (not authorized)")
            else:
                yield LinkChange(False, "the handshake failed (is this the right endpoint?)")
    finally:
        with contextlib.suppress(zmq.ZMQError):  # the socket may be closed already
            sock.disable_monitor()
        monitor.close(linger=0)
