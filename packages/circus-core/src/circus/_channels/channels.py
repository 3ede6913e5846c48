"""The arbiter's network channels: control (ROUTER), events (PUB), discovery (UDP).

Opened before the watchers start, so a client can already talk to a starting
daemon; closed after they stopped. An endpoint of ``None`` means "no such
channel" (embedding programs and tests that need none).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import zmq

from circus._channels.controller import Controller, ZmqContext
from circus._channels.curve import ServerKeys, load_server_keys, start_authenticator
from circus._channels.multicast import MulticastResponder
from circus._channels.publisher import Publisher
from circus.errors import CircusError

if TYPE_CHECKING:
    from zmq.auth.thread import ThreadAuthenticator

    from circus.arbiter import Arbiter

logger = logging.getLogger("circus")


class Channels:
    """Opens and closes the channels configured on one arbiter."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.controller: Controller | None = None
        self.publisher: Publisher | None = None
        self.multicast: MulticastResponder | None = None
        self._context: ZmqContext | None = None
        self._own_context = False
        self._authenticator: ThreadAuthenticator | None = None

    @property
    def is_open(self) -> bool:
        """Whether any channel is open."""
        return any((self.controller, self.publisher, self.multicast))

    def _zmq_context(self) -> ZmqContext:
        if self._context is None:
            given = self.arbiter.context
            if isinstance(given, zmq.Context):
                self._context = given
            else:
                self._context = zmq.Context()
                self._own_context = True
        return self._context

    def _server_keys(self) -> ServerKeys | None:
        arbiter = self.arbiter
        if not arbiter.curve_secret_key:
            return None
        if not arbiter.curve_authorized_keys:
            raise CircusError("[circus] curve_secret_key needs curve_authorized_keys (a "
                              "directory of client public keys)")
        keys = load_server_keys(arbiter.curve_secret_key, arbiter.curve_authorized_keys)
        if self._authenticator is None:
            self._authenticator = start_authenticator(self._zmq_context(), keys)
        return keys

    async def open(self) -> None:
        """Open every configured channel (a no-op for those already open).

        Raises:
            CircusError: an endpoint cannot be bound; nothing stays open.
        """
        arbiter = self.arbiter
        try:
            curve = self._server_keys()
            if arbiter.pubsub_endpoint and self.publisher is None:
                publisher = Publisher(arbiter.pubsub_endpoint, arbiter.events,
                                      self._zmq_context(), curve)
                publisher.start()
                self.publisher = publisher
            if arbiter.endpoint and self.controller is None:
                controller = Controller(arbiter, arbiter.endpoint, self._zmq_context(),
                                        arbiter.endpoint_owner_uid, curve)
                controller.start(asyncio.get_running_loop())
                self.controller = controller
        except BaseException:
            self.close()
            raise
        if arbiter.multicast_endpoint and arbiter.endpoint and self.multicast is None:
            self.multicast = MulticastResponder(arbiter.multicast_endpoint, arbiter.endpoint)
            await self.multicast.start()

    def close(self, flush: bool = False) -> None:
        """Close every channel; ``flush`` lets the last replies (``quit``'s) leave first."""
        if self.multicast is not None:
            self.multicast.close()
            self.multicast = None
        if self.controller is not None:
            self.controller.close(flush=flush)
            self.controller = None
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        if self._context is not None and self._own_context:
            # Waits at most the flush linger for a reply still in flight.
            self._context.term()
        self._context = None
        self._own_context = False
