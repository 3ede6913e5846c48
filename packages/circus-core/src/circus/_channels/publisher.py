"""The event channel: every event of the arbiter's bus, published on a ZMQ PUB.

Each message is two frames, ``[b"watcher.<name>.<event>", <json payload>]``,
as upstream's subscribers (plugins, circusd-stats, ``circusctl listen``)
expect. Sends never block: a PUB drops for subscribers past their high-water
mark anyway, and ``NOBLOCK`` guarantees it; anything refused is counted in
``dropped`` rather than slowing the daemon.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import zmq

from circus._base.events import EventBus, EventPayload
from circus._channels.controller import ZmqContext, bind
from circus._channels.curve import ServerKeys, secure_server

logger = logging.getLogger("circus")

SEND_HWM = 10_000
"""Events queued per subscriber before further ones are dropped for it."""


class Publisher:
    """Publishes ``bus`` events on ``endpoint``.

    Args:
        endpoint: a ``tcp://`` or ``ipc://`` ZMQ endpoint.
        bus: the event bus to relay.
        context: the ZMQ context to create the socket in.
        curve: circusd's CURVE keys; only authorized clients may then subscribe.
    """

    def __init__(self, endpoint: str, bus: EventBus, context: ZmqContext,
                 curve: ServerKeys | None = None) -> None:
        self.endpoint = endpoint
        self.bus = bus
        self.dropped = 0
        self.sent = 0
        self._context = context
        self._curve = curve
        self._sock: zmq.Socket[bytes] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def __repr__(self) -> str:
        state = "open" if self._sock is not None else "closed"
        return f"<Publisher {self.endpoint} {state} sent={self.sent} dropped={self.dropped}>"

    def start(self) -> None:
        """Bind the PUB socket and start relaying events.

        Raises:
            CircusError: the endpoint cannot be bound.
        """
        sock = self._context.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, SEND_HWM)
        if self._curve is not None:
            secure_server(sock, self._curve)
        try:
            bind(sock, self.endpoint, "event channel")
        except Exception:
            sock.close()
            raise
        self._sock = sock
        self._unsubscribe = self.bus.subscribe(self.publish)
        logger.info("events published on %s", self.endpoint)

    def publish(self, topic: str, payload: EventPayload) -> None:
        """Send one event; dropped (and counted) if it cannot leave at once."""
        sock = self._sock
        if sock is None:
            return
        try:
            body = json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            logger.error("event %s has a payload that is not JSON: %s", topic, exc)
            self.dropped += 1
            return
        try:
            sock.send_multipart([topic.encode(), body], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.dropped += 1
            return
        self.sent += 1

    def close(self) -> None:
        """Stop relaying and close the socket."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
