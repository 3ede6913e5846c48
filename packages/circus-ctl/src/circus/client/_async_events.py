"""The asyncio event subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from types import TracebackType

import zmq.asyncio
from circus.client._events import Event, decode_event, open_sub
from circus.client._message import DEFAULT_PUBSUB


class AsyncEventSubscriber:
    """``async for topic, payload in AsyncEventSubscriber(...)``; see :class:`EventSubscriber`."""

    def __init__(
        self,
        endpoint: str = DEFAULT_PUBSUB,
        topics: Iterable[str] = ("watcher.",),
        context: zmq.asyncio.Context | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.topics = tuple(topics)
        self._own_context = context is None
        self._context = context if context is not None else zmq.asyncio.Context()
        sock = open_sub(self._context, endpoint, self.topics)
        assert isinstance(sock, zmq.asyncio.Socket)
        self._socket: zmq.asyncio.Socket | None = sock

    async def recv(self) -> Event:
        """Wait for the next event."""
        if self._socket is None:
            raise RuntimeError("the subscriber is closed")
        return decode_event(await self._socket.recv_multipart())

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.recv()

    def close(self) -> None:
        """Close the socket (and the context, if the subscriber made it)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._own_context:
            self._context.term()

    async def __aenter__(self) -> AsyncEventSubscriber:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
