"""The asyncio event subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

import zmq.asyncio
from circus.client._events import _open_sub, decode_event
from circus.client._tunnels import end_tunnel
from circus.client.protocol import DEFAULT_PUBSUB

if TYPE_CHECKING:
    from circus.client._curve import CurveKeys
    from circus.client._shapes import Event


class AsyncEventSubscriber:
    """``async for topic, payload in AsyncEventSubscriber(...)``; see :class:`EventSubscriber`.

    ``options`` are ZMQ socket options set before connecting, e.g.
    :func:`~circus.client.heartbeat_options` to follow the link with
    :func:`~circus.client.link_changes` on :attr:`socket`.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_PUBSUB,
        topics: Iterable[str] = ("watcher.",),
        context: zmq.asyncio.Context | None = None,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        options: Mapping[int, int] | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.topics = tuple(topics)
        self._own_context = context is None
        self._context = context if context is not None else zmq.asyncio.Context()
        try:
            sock, self._tunnel = _open_sub(self._context, endpoint, self.topics, ssh_server,
                                           ssh_keyfile, options=options, curve=curve)
        except BaseException:
            if self._own_context:
                self._context.term()
            raise
        self._socket: zmq.asyncio.Socket | None = sock

    @property
    def socket(self) -> zmq.asyncio.Socket:
        """The SUB socket (for :func:`~circus.client.link_changes`); RuntimeError once closed."""
        if self._socket is None:
            raise RuntimeError("the subscriber is closed")
        return self._socket

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
        end_tunnel(self._tunnel)
        self._tunnel = None
        if self._own_context:
            self._context.term()

    async def __aenter__(self) -> AsyncEventSubscriber:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
