"""The stats channel: an XPUB socket that knows what its subscribers want.

XPUB talks to plain SUB clients exactly like PUB (upstream's circus-top works
unchanged) but also hands us every new subscription prefix and every last
unsubscription, so a tick can skip sampling groups nobody listens to. The
subscription messages are drained without blocking at the start of each
tick: the one timer is the only wake-up, and a late subscriber is served
from the next tick on.
"""

from __future__ import annotations

import os

import zmq

# Plain ints: or-ing the flag enums on every send costs more than the send.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)


def _bind_private(sock: zmq.Socket[bytes], endpoint: str) -> None:
    """Bind; an ``ipc://`` file gets mode 0600, as circusd's endpoints: only our user connects.

    libzmq creates the file during ``bind`` in this thread, so a strict umask for
    that moment means it is never reachable by others, not even briefly.
    """
    if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        sock.bind(endpoint)
        return
    old = os.umask(0o177)
    try:
        sock.bind(endpoint)
    finally:
        os.umask(old)
    os.chmod(endpoint[len("ipc://"):], 0o600)


class BindError(Exception):
    """The statspoint could not be bound."""


class StatsPublisher:
    """Binds the statspoint and sends ``[topic, json]`` frames without ever blocking."""

    def __init__(self, context: zmq.SyncContext, endpoint: str,
                 curve: tuple[bytes, bytes] | None = None) -> None:
        """Bind ``endpoint``; ``curve`` (public, secret) makes it a CURVE server.

        The ZAP handler that checks the clients' keys is the caller's (see
        :mod:`circus.stats._curve`).
        """
        self.endpoint = endpoint
        sock = context.socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        if curve is not None:
            sock.setsockopt(zmq.ZAP_DOMAIN, b"circus-stats")
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, curve[0])
            sock.setsockopt(zmq.CURVE_SECRETKEY, curve[1])
        try:
            _bind_private(sock, endpoint)
        except zmq.ZMQError as exc:
            sock.close()
            raise BindError(f"cannot bind the stats endpoint {endpoint}: {exc}") from exc
        except OSError as exc:
            sock.close()
            raise BindError(f"cannot set mode 0600 on the stats endpoint {endpoint}: "
                            f"{exc.strerror or exc}") from exc
        self._socket = sock
        self._send = sock.send
        self.prefixes: set[bytes] = set()
        self.dropped = 0

    def refresh_subscriptions(self) -> None:
        """Apply the (un)subscriptions that arrived since the last call."""
        sock = self._socket
        while True:
            try:
                message = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if message[:1] == b"\x01":
                self.prefixes.add(message[1:])
            elif message[:1] == b"\x00":
                self.prefixes.discard(message[1:])

    def wants(self, group_topic: bytes) -> bool:
        """Whether anyone subscribed to ``group_topic`` or to one of its per-pid topics."""
        below = group_topic + b"."
        return any(group_topic.startswith(p) or p.startswith(below) for p in self.prefixes)

    def send(self, topic: bytes, body: bytes) -> None:
        """Publish one message; dropped (and counted) if a subscriber's queue is full."""
        try:
            self._send(topic, _MORE_NOBLOCK)
            self._send(body, _NOBLOCK)
        except zmq.Again:
            self.dropped += 1

    def send_all(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Publish ``messages`` back to back (see :meth:`send`)."""
        send = self._send
        for topic, body in messages:
            try:
                send(topic, _MORE_NOBLOCK)
                send(body, _NOBLOCK)
            except zmq.Again:
                self.dropped += 1

    def close(self) -> None:
        """Close the socket (pending messages are dropped)."""
        self._socket.close(linger=0)
