"""Reading the event channel: every queued event to the plugin, one wake-up per batch.

A plain descriptor handler, not a ``ZMQStream``: a plugin idles between
events, and each arrival should cost it one wake-up and nothing more. ZMQ's
descriptor only signals new arrivals, so each wake-up drains the queue.

With a hold time, after a batch the reader stops listening for that long and
then takes whatever queued meanwhile as the next batch: a steady stream of
events costs about two wake-ups per hold period instead of one per event,
while the first event after a quiet spell is still handled at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import zmq
from tornado.ioloop import IOLoop

EVENTS_PER_TURN = 256
"""Events handled before the loop gets a turn (timers and signals stay responsive)."""


class EventReader:
    """Hands each event queued on ``sock`` to ``handle``, then calls ``drained``.

    Args:
        loop: the plugin's loop; every call happens on it.
        sock: the SUB socket (closed by its owner, after :meth:`close`).
        handle: called with the frames of each event.
        drained: called after each batch that handled at least one event.
        hold: seconds to let events queue after a batch (0: never).
    """

    def __init__(self, loop: IOLoop, sock: zmq.Socket[Any],
                 handle: Callable[[list[bytes]], None], drained: Callable[[], None],
                 hold: float = 0.0) -> None:
        self._loop = loop
        self._sock: zmq.Socket[Any] | None = sock
        self._handle = handle
        self._drained = drained
        self._hold = hold
        self._listening = False
        self._pending: object | None = None  # the timer that reads next

    def start(self) -> None:
        """Listen, and take what is queued already."""
        self._listen()
        self._read()

    def _listen(self) -> None:
        if self._sock is not None and not self._listening:
            self._loop.add_handler(self._sock, self._on_readable, IOLoop.READ)
            self._listening = True

    def _on_readable(self, *_: object) -> None:
        self._read()

    def _read(self) -> None:
        self._pending = None
        handled = 0
        # Asking for EVENTS, not catching zmq.Again: an exception per wake-up is
        # a measurable share of an idle plugin's CPU.
        while self._sock is not None and cast(int, self._sock.get(zmq.EVENTS)) & zmq.POLLIN:
            self._handle(self._sock.recv_multipart(zmq.NOBLOCK))
            handled += 1
            if handled == EVENTS_PER_TURN:
                self._drained()
                # More may be queued: let timers and signals run first, then go on.
                if self._sock is not None:
                    self._pending = self._loop.call_later(0, self._read)
                return
        if handled:
            self._drained()
            if self._hold > 0 and self._sock is not None:
                if self._listening:
                    self._loop.remove_handler(self._sock)
                    self._listening = False
                self._pending = self._loop.call_later(self._hold, self._resume)

    def _resume(self) -> None:
        self._pending = None
        self._listen()
        self._read()

    def close(self) -> None:
        """Stop reading (on the loop); the socket stays its owner's to close."""
        if self._pending is not None:
            self._loop.remove_timeout(self._pending)
            self._pending = None
        if self._sock is not None and self._listening:
            self._loop.remove_handler(self._sock)
        self._listening = False
        self._sock = None
