"""Subscribers to circusd's event channel (PUB, two frames: topic and JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

import zmq
from circus.client._message import DEFAULT_PUBSUB

Event = tuple[str, dict[str, Any]]


def decode_event(frames: list[bytes]) -> Event:
    """``(topic, payload)`` from a published message; odd payloads are wrapped."""
    topic = frames[0].decode("utf-8", "replace")
    body = frames[1] if len(frames) > 1 else b""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body.decode("utf-8", "replace")
    if not isinstance(payload, dict):
        payload = {"data": payload}
    return topic, payload


def open_sub(context: zmq.Context[Any], endpoint: str, topics: Iterable[str]) -> zmq.Socket[Any]:
    """A SUB socket connected to ``endpoint``, subscribed to every prefix in ``topics``."""
    sock: zmq.Socket[Any] = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    for topic in topics:
        sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
    sock.connect(endpoint)
    return sock


class EventSubscriber:
    """Iterate over circusd's events as ``(topic, payload)`` pairs.

    Args:
        endpoint: the daemon's ``pubsub_endpoint``.
        topics: topic prefixes to receive; ``("",)`` for everything.
        context: a ZMQ context to use (kept open by :meth:`close`).

    Example:
        >>> with EventSubscriber(topics=["watcher.web."]) as events:
        ...     for topic, payload in events:
        ...         print(topic, payload.get("process_pid"))
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_PUBSUB,
        topics: Iterable[str] = ("watcher.",),
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.topics = tuple(topics)
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        self._socket: zmq.Socket[Any] | None = open_sub(self._context, endpoint, self.topics)

    def recv(self, timeout: float | None = None) -> Event | None:
        """The next event, or ``None`` if none arrives within ``timeout`` seconds."""
        if self._socket is None:
            raise RuntimeError("the subscriber is closed")
        if timeout is not None and not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            return None
        return decode_event(self._socket.recv_multipart())

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.recv()
            assert event is not None
            yield event

    def close(self) -> None:
        """Close the socket (and the context, if the subscriber made it)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._own_context:
            self._context.term()

    def __enter__(self) -> EventSubscriber:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
