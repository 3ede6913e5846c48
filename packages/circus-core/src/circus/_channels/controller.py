"""The control channel: a ZMQ ROUTER that feeds requests to the dispatcher.

Why a plain ``zmq.Socket`` driven by ``loop.add_reader`` and not zmq.asyncio:
a reply known at once (``status``, ``list``) is sent from inside the reader
callback, with no task or future per request, which keeps a round trip close
to raw pyzmq's. Only long operations become tasks.

The socket's FD is edge-triggered: it only signals a *change* of
``zmq.EVENTS``. So the reader drains while ``EVENTS & POLLIN``, and every
send made outside the reader (a late reply) is followed by a re-check, since
a send may consume the edge that announced a new request.

With CURVE on, each request frame is received as a ``zmq.Frame`` so that its
User-Id (``ROLE/NAME``, set by the ZAP handler of :mod:`.curve`) can be read;
the dispatcher then refuses what the role may not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING

import zmq

from circus._channels.curve import caller_of, secure_server
from circus._watching.spawn import resolve_uid
from circus.commands import Dispatcher
from circus.commands._roles import Caller
from circus.errors import CircusError

if TYPE_CHECKING:
    from circus._channels.curve import ServerKeys
    from circus.arbiter import Arbiter

logger = logging.getLogger("circus")

ZmqContext = zmq.Context[zmq.Socket[bytes]]
"""The ZMQ context the channels create their sockets in (frames are bytes)."""

MAX_FRAME_SIZE = 16 * 1024 * 1024
"""ZMQ drops (and disconnects) senders of larger frames; smaller ones above the
dispatcher's 1 MiB limit still get its error reply."""

# Requests handled per reader callback before yielding to the rest of the loop,
# so a flood from some clients never starves timers, reaping or other clients.
_BATCH = 64
# How long a closing socket may keep trying to deliver the reply to ``quit``.
_QUIT_LINGER_MS = 1000


def resolve_owner(owner: str | int | None) -> int | None:
    """The uid of ``endpoint_owner`` (a user name or uid), or None when unset.

    Raises:
        CircusError: the user does not exist.
    """
    try:
        return resolve_uid(owner)
    except ValueError:
        raise CircusError(f"endpoint_owner {owner!r}: no such user") from None


IPC_MODE = 0o600
"""The mode of ``ipc://`` endpoint files: only their owner may connect."""


@contextlib.contextmanager
def _private_files(endpoint: str) -> Iterator[None]:
    # libzmq creates the socket file during bind(), in this thread, with the
    # process umask; a strict umask for that moment means the file is never
    # reachable by others, not even between bind() and a chmod().
    if not endpoint.startswith("ipc://"):
        yield
        return
    old = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(old)


def bind(sock: zmq.Socket[bytes], endpoint: str, what: str) -> None:
    """Bind ``sock`` to ``endpoint``; a failure is a CircusError naming both.

    An ``ipc://`` file gets mode 0600 (:data:`IPC_MODE`): another Unix user
    cannot connect unless ``endpoint_owner`` gives the file to them.
    """
    try:
        with _private_files(endpoint):
            sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise CircusError(f"cannot bind the {what} on {endpoint}: {exc}") from exc
    if endpoint.startswith("ipc://") and not endpoint.startswith("ipc://@"):
        path = endpoint[len("ipc://"):]
        try:
            os.chmod(path, IPC_MODE)  # in case libzmq ever binds on another thread
        except OSError as exc:
            raise CircusError(f"cannot set mode 0600 on {path}: {exc.strerror}") from exc


class Controller:
    """Serves control requests on ``endpoint`` for one arbiter.

    Args:
        arbiter: the arbiter the commands act on.
        endpoint: a ``tcp://`` or ``ipc://`` ZMQ endpoint.
        context: the ZMQ context to use (a private one when None).
        owner_uid: chown an ``ipc://`` socket file to this uid after binding.
        curve: circusd's CURVE keys; clients must then be authorized, and each
            request is judged by its client's role.
    """

    def __init__(self, arbiter: Arbiter, endpoint: str, context: ZmqContext,
                 owner_uid: int | None = None, curve: ServerKeys | None = None) -> None:
        self.arbiter = arbiter
        self.endpoint = endpoint
        self.dispatcher = Dispatcher(arbiter)
        self._context = context
        self._owner_uid = owner_uid
        self._curve = curve
        # User-Id → Caller: one object per client key, not one per request.
        self._callers: dict[str, Caller] = {}
        self._sock: zmq.Socket[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._pending: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        state = "open" if self._sock is not None else "closed"
        return f"<Controller {self.endpoint} {state}>"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the ROUTER and start serving on ``loop``.

        Raises:
            CircusError: the endpoint cannot be bound or its owner set.
        """
        sock = self._context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_SIZE)
        if self._curve is not None:
            secure_server(sock, self._curve)
        try:
            bind(sock, self.endpoint, "control channel")
            self._chown()
        except CircusError:
            sock.close()
            raise
        self._sock = sock
        self._loop = loop
        self._fd = int(sock.getsockopt(zmq.FD))
        loop.add_reader(self._fd, self._on_readable)
        # Requests may already be queued: the edge that announced them is gone.
        loop.call_soon(self._on_readable)
        logger.info("control channel listening on %s", self.endpoint)

    def _chown(self) -> None:
        if self._owner_uid is None or not self.endpoint.startswith("ipc://"):
            return
        path = self.endpoint[len("ipc://"):]
        try:
            os.chown(path, self._owner_uid, -1)
        except OSError as exc:
            raise CircusError(f"cannot give {self.endpoint} to uid {self._owner_uid}: "
                              f"{exc.strerror}") from exc

    def close(self, flush: bool = False) -> None:
        """Stop serving; with ``flush`` give replies already sent a moment to leave."""
        if self._sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        for task in self._pending:
            task.cancel()
        self._sock.close(linger=_QUIT_LINGER_MS if flush else 0)
        self._sock = None
        logger.debug("control channel %s closed", self.endpoint)

    # -- the reader -----------------------------------------------------------------

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        secure = self._curve is not None
        for _ in range(_BATCH):
            try:
                if not int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                    return
                if secure:
                    frames, caller = self._recv_secure(sock)
                else:
                    frames, caller = sock.recv_multipart(zmq.NOBLOCK), None
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                logger.warning("control channel %s: receive failed: %s", self.endpoint, exc)
                return
            if frames:
                self._serve(frames, caller)
            if self._sock is None:  # a command closed the channel
                return
        # More may be queued: carry on after other callbacks had their turn.
        if self._loop is not None:
            self._loop.call_soon(self._on_readable)

    def _recv_secure(self, sock: zmq.Socket[bytes]) -> tuple[list[bytes], Caller | None]:
        """One message and its sender's role; no frames for a message to drop."""
        # Only the request frame is received as a zmq.Frame, for its User-Id: the
        # fewer objects per request, the closer a CURVE round trip stays to a plain one.
        identity = sock.recv(zmq.NOBLOCK)
        if not sock.getsockopt(zmq.RCVMORE):
            logger.debug("control channel: dropped a message of 1 frame (expected 2)")
            return [], None
        frame = sock.recv(zmq.NOBLOCK, copy=False)
        if frame.more:
            extra = sock.recv_multipart(zmq.NOBLOCK)
            logger.debug("control channel: dropped a message of %d frames (expected 2)",
                         2 + len(extra))
            return [], None
        user_id = frame.get("User-Id")
        caller = self._callers.get(user_id) if isinstance(user_id, str) else None
        if caller is None:
            caller = caller_of(user_id)
            if caller is None:  # cannot happen past the ZAP handler; never run it as admin
                logger.warning("control channel: dropped a request without a CURVE User-Id")
                return [], None
            self._callers[str(user_id)] = caller
        return [identity, frame.bytes], caller

    def _serve(self, frames: list[bytes], caller: Caller | None = None) -> None:
        if len(frames) != 2:
            logger.debug("control channel: dropped a message of %d frames (expected 2)",
                         len(frames))
            return
        identity, payload = frames
        outcome = self.dispatcher.handle(payload, caller)
        if outcome is None:
            return
        if isinstance(outcome, bytes):
            self._send(identity, outcome)
            return
        task = asyncio.ensure_future(self._reply_later(identity, outcome))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _reply_later(self, identity: bytes, outcome: Awaitable[bytes | None]) -> None:
        reply = await outcome
        if reply is not None and self._send(identity, reply) and self._loop is not None:
            # The send may have eaten the edge of a request that arrived meanwhile.
            self._loop.call_soon(self._on_readable)

    def _send(self, identity: bytes, reply: bytes) -> bool:
        sock = self._sock
        if sock is None:
            logger.debug("control channel closed; reply dropped")
            return False
        try:
            sock.send_multipart([identity, reply], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            # The client is gone or not reading (high-water mark): nothing to do.
            logger.debug("control channel: reply dropped: %s", exc)
            return False
        return True
