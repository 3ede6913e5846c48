"""Subscribers to circusd's event channel (PUB, two frames: topic and JSON)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, cast

import zmq
from circus.client._dealer import SocketT, connect_ssh
from circus.client._errors import ConnectionFailed
from circus.client._tunnels import Tunnel, end_tunnel
from circus.client.protocol import DEFAULT_PUBSUB

if TYPE_CHECKING:
    from circus.client._curve import CurveKeys
    from circus.client._shapes import Event, EventPayload


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
    # Not checked key by key: the payload is what circusd published.
    return topic, cast("EventPayload", payload)


def open_sub(
    context: zmq.Context[SocketT], endpoint: str, topics: Iterable[str],
    ssh_server: str | None = None, ssh_keyfile: str | None = None, timeout: float = 5.0,
    options: Mapping[int, int] | None = None, curve: CurveKeys | None = None,
) -> SocketT:
    """A SUB socket connected to ``endpoint``, subscribed to every prefix in ``topics``.

    For any PUB endpoint: circusd's events, circusd-stats's stats. The socket
    is of the context's class: a ``zmq.asyncio.Socket`` for an asyncio
    context. An ssh tunnel lasts as long as the program (see
    :class:`EventSubscriber` for one that ends with it).

    Args:
        ssh_server: ``user@host:port`` to reach ``endpoint`` through an ssh tunnel.
        ssh_keyfile: the private key for ``ssh_server``.
        timeout: seconds the tunnel waits for its first use.
        options: ZMQ socket options (``zmq.HEARTBEAT_IVL``, ...) set before
            connecting, so that they apply to the connection.
        curve: CURVE keys for a publisher that requires them.

    Raises:
        ConnectionFailed: the endpoint is invalid or the ssh tunnel failed.
    """
    return _open_sub(context, endpoint, topics, ssh_server, ssh_keyfile, timeout, options,
                     curve)[0]


def _open_sub(
    context: zmq.Context[SocketT], endpoint: str, topics: Iterable[str],
    ssh_server: str | None, ssh_keyfile: str | None, timeout: float = 5.0,
    options: Mapping[int, int] | None = None, curve: CurveKeys | None = None,
) -> tuple[SocketT, Tunnel | None]:
    """:func:`open_sub`, plus the ssh tunnel it opened (None without ssh)."""
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    for option, value in (options or {}).items():
        sock.setsockopt(option, value)
    if curve is not None:
        curve.secure(sock)
    tunnel: Tunnel | None = None
    try:
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        if ssh_server is None:
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as exc:
                raise ConnectionFailed(endpoint, "invalid",
                                       f"cannot connect to {endpoint}: {exc}") from exc
        else:
            tunnel = connect_ssh(sock, endpoint, ssh_server, ssh_keyfile, timeout)
    except BaseException:
        sock.close()
        raise
    return sock, tunnel


def _drain(fd: int) -> None:
    """Read a non-blocking descriptor until it is empty."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


class EventSubscriber:
    """Iterate over circusd's events as ``(topic, payload)`` pairs.

    Args:
        endpoint: the daemon's ``pubsub_endpoint``.
        topics: topic prefixes to receive; ``("",)`` for everything.
        context: a ZMQ context to use (kept open by :meth:`close`).
        ssh_server: ``user@host:port`` to reach ``endpoint`` through ssh.
        ssh_keyfile: the private key for ``ssh_server``.
        curve: CURVE keys for a daemon that requires them.

    Example:
        >>> with EventSubscriber(topics=["watcher.web."]) as events:
        ...     for topic, payload in events:
        ...         print(topic, payload.get("process_pid"))
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_PUBSUB,
        topics: Iterable[str] = ("watcher.",),
        context: zmq.SyncContext | None = None,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.topics = tuple(topics)
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        try:
            self._socket: zmq.SyncSocket | None
            self._socket, self._tunnel = _open_sub(
                self._context, endpoint, self.topics, ssh_server, ssh_keyfile, curve=curve)
        except BaseException:
            if self._own_context:
                self._context.term()
            raise

    def recv(self, timeout: float | None = None, wakeup_fd: int | None = None) -> Event | None:
        """The next event, or ``None`` if none arrives within ``timeout`` seconds.

        Args:
            timeout: seconds to wait; ``None`` waits for as long as it takes.
            wakeup_fd: a non-blocking descriptor that also ends the wait, with
                ``None``, when it turns readable (it is drained). A signal
                wakeup fd makes Ctrl-C end the wait whenever it comes.
        """
        if self._socket is None:
            raise RuntimeError("the subscriber is closed")
        if wakeup_fd is None:
            if timeout is not None and not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
                return None
            return decode_event(self._socket.recv_multipart())
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(wakeup_fd, zmq.POLLIN)
        ready = dict(poller.poll(None if timeout is None else int(timeout * 1000)))
        if wakeup_fd in ready:
            _drain(wakeup_fd)
        if self._socket in ready:
            return decode_event(self._socket.recv_multipart())
        return None

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
        end_tunnel(self._tunnel)
        self._tunnel = None
        if self._own_context:
            self._context.term()

    def __enter__(self) -> EventSubscriber:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
