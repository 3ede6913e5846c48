"""The asyncio client: many calls in flight on one DEALER, matched by id.

One reader task receives every reply and resolves the future waiting for that
``id``; replies nobody waits for (a call that already timed out) are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import TYPE_CHECKING, Literal, overload

import zmq
import zmq.asyncio
from circus.client._dealer import open_dealer
from circus.client._errors import CallTimeout, ClientError, raise_for_status
from circus.client._message import Message, decode_reply, encode, normalise
from circus.client._tunnels import Tunnel, end_tunnel
from circus.client.protocol import DEFAULT_ENDPOINT

if TYPE_CHECKING:
    from circus.client._curve import CurveKeys
    from circus.client._shapes import (
        ActionReply,
        DStatsReply,
        IPythonReply,
        ListReply,
        NumProcessesReply,
        NumWatchersReply,
        OptionsReply,
        OutputLine,
        ProcessStatsReply,
        Reply,
        ScaleReply,
        SocketsReply,
        StatsReply,
        StatusReply,
        TailReply,
        VersionReply,
        WatcherStatsReply,
    )


class AsyncCircusClient:
    """An asyncio client for circusd's control endpoint.

    Same arguments and methods as :class:`CircusClient`, as coroutines.
    Several calls may run concurrently on one client.

    Example:
        >>> async with AsyncCircusClient() as client:
        ...     replies = await asyncio.gather(client.call("list"), client.call("status"))
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 5.0,
        context: zmq.asyncio.Context | None = None,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        check: bool = False,
        curve: CurveKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.ssh_server = ssh_server
        self.ssh_keyfile = ssh_keyfile
        self.check = check
        self.curve = curve
        self._own_context = context is None
        self._context = context
        self._socket: zmq.asyncio.Socket | None = None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tunnel: Tunnel | None = None

    def _connected(self) -> zmq.asyncio.Socket:
        if self._socket is None:
            if self._context is None:
                self._context = zmq.asyncio.Context()
            try:
                sock, self._tunnel = open_dealer(
                    self._context, self.endpoint, self.ssh_server, self.ssh_keyfile, self.timeout,
                    self.curve,
                )
            except BaseException:
                if self._own_context:  # do not leave it behind a failed connect
                    self._context.term()
                    self._context = None
                raise
            self._socket = sock
        return self._socket

    # As CircusClient.call: the reply's type follows a literal command name.
    @overload
    async def call(self, command: Literal["list"], **props: object) -> ListReply: ...
    @overload
    async def call(self, command: Literal["status"], **props: object) -> StatusReply: ...
    @overload
    async def call(self, command: Literal["numprocesses"],
                   **props: object) -> NumProcessesReply: ...
    @overload
    async def call(self, command: Literal["numwatchers"], **props: object) -> NumWatchersReply: ...
    @overload
    async def call(self, command: Literal["options", "get", "globaloptions"],
                   **props: object) -> OptionsReply: ...
    @overload
    async def call(self, command: Literal["listsockets"], **props: object) -> SocketsReply: ...
    @overload
    async def call(self, command: Literal["dstats"], **props: object) -> DStatsReply: ...
    @overload
    async def call(self, command: Literal["stats"], *, name: str, process: int,
                   extended: bool = ...) -> ProcessStatsReply: ...
    @overload
    async def call(self, command: Literal["stats"], *, name: str,
                   extended: bool = ...) -> WatcherStatsReply: ...
    @overload
    async def call(self, command: Literal["stats"], *, extended: bool = ...) -> StatsReply: ...
    @overload
    async def call(self, command: Literal["incr", "decr"], **props: object) -> ScaleReply: ...
    @overload
    async def call(self, command: Literal["start", "stop", "restart", "reload"],
                   **props: object) -> ActionReply: ...
    @overload
    async def call(self, command: Literal["ipython"], **props: object) -> IPythonReply: ...
    @overload
    async def call(self, command: Literal["tail"], **props: object) -> TailReply: ...
    @overload
    async def call(self, command: Literal["version"], **props: object) -> VersionReply: ...
    @overload
    async def call(self, command: str | Message, **props: object) -> Reply: ...

    async def call(self, command: str | Message, **props: object) -> Reply:
        """Send one command and return its reply; see :meth:`CircusClient.call`."""
        message = normalise(command, props)
        sock = self._connected()
        msg_id = str(message["id"])
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            try:
                # A send waits (forever) after circusd refused our CURVE key.
                await asyncio.wait_for(sock.send(encode(message)), self.timeout)
                if self._reader is None or self._reader.done():
                    self._reader = asyncio.create_task(self._read_replies(sock))
                reply = await asyncio.wait_for(future, self.timeout)
            except (asyncio.TimeoutError, zmq.Again):  # zmq.Again: the CURVE SNDTIMEO
                raise CallTimeout(self.endpoint, self.timeout, str(message["command"]),
                                  curve=self.curve is not None) from None
        finally:
            self._pending.pop(msg_id, None)
        return raise_for_status(reply) if self.check else reply

    send_message = call

    async def cast(self, command: str | Message, **props: object) -> None:
        """Send a command the daemon runs without replying."""
        message = normalise(command, props)
        message.pop("id", None)
        message["msg_type"] = "cast"
        await self._connected().send(encode(message))

    async def tail(self, name: str, lines: int = 10) -> list[OutputLine]:
        """The last ``lines`` lines watcher ``name`` wrote; see :meth:`CircusClient.tail`."""
        reply = raise_for_status(await self.call("tail", name=name, lines=lines))
        return list(reply.get("lines", []))

    async def version(self) -> str:
        """The version of circus-core running the daemon; see :meth:`CircusClient.version`."""
        reply = raise_for_status(await self.call("version"))
        return str(reply.get("version", ""))

    async def _read_replies(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            frame = await sock.recv()
            try:
                reply = decode_reply(frame)
            except ClientError as exc:
                # Nobody can tell which call this was for: fail them all.
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(exc)
                continue
            waiter = self._pending.get(str(reply.get("id")))
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)

    async def close(self) -> None:
        """Stop the reader, close the socket (and the context the client made)."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._socket is not None:
            self._socket.close(linger=int(self.timeout * 1000))
            self._socket = None
        end_tunnel(self._tunnel)
        self._tunnel = None
        if self._own_context and self._context is not None:
            self._context.term()
            self._context = None

    async def __aenter__(self) -> AsyncCircusClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
