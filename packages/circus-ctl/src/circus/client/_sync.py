"""The blocking client: one DEALER connection, one request at a time.

It is written on plain sockets and a deadline rather than as a facade over
the asyncio client because ``circusctl`` must start fast: importing asyncio
and ``zmq.asyncio`` alone costs more than our whole start-up budget. For the
same reason pyzmq itself is imported only when this client first connects
with it; ``transport="builtin"`` (what circusctl uses) never imports it.
"""

from __future__ import annotations

import os
import time
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, overload

from circus.client._errors import CallTimeout, ConnectionFailed, raise_for_status
from circus.client._message import Message, decode_reply, encode, normalise
from circus.client._tunnels import Tunnel, end_tunnel
from circus.client.protocol import DEFAULT_ENDPOINT

if TYPE_CHECKING:
    import zmq
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

Transport = Literal["pyzmq", "builtin"]


class _Connection(Protocol):
    def send(self, payload: bytes) -> None: ...
    def poll(self, timeout: float) -> bool: ...
    def recv(self) -> bytes: ...
    def close(self) -> None: ...


class _Unsent(Exception):
    """A pyzmq send that timed out (only with CURVE: see ``open_dealer``)."""


class _ZmqConnection:
    """A pyzmq DEALER behind the :class:`_Connection` interface."""

    def __init__(self, sock: zmq.SyncSocket, tunnel: Tunnel | None = None) -> None:
        self.sock = sock
        self.tunnel = tunnel

    def send(self, payload: bytes) -> None:
        import zmq

        try:
            self.sock.send(payload)
        except zmq.Again:
            raise _Unsent from None

    def poll(self, timeout: float) -> bool:
        return bool(self.sock.poll(int(timeout * 1000) + 1))

    def recv(self) -> bytes:
        return bytes(self.sock.recv())

    def close(self, linger_ms: int = 0) -> None:
        import zmq

        self.sock.setsockopt(zmq.LINGER, linger_ms)
        self.sock.close()
        end_tunnel(self.tunnel)
        self.tunnel = None


class CircusClient:
    """A blocking client for circusd's control endpoint.

    Args:
        endpoint: the daemon's control endpoint.
        timeout: seconds to wait for each reply.
        context: a ZMQ context to use (not terminated by :meth:`close`);
            by default the client makes and owns one.
        ssh_server: ``user@host:port`` to reach ``endpoint`` through an ssh tunnel.
        ssh_keyfile: the private key for ``ssh_server``.
        check: make :meth:`call` raise :class:`CallError` on error replies
            (upstream returned them, which stays the default).
        transport: ``"pyzmq"`` (the default) or ``"builtin"``: a minimal
            ZMTP 3 client on a plain socket that spares one-shot tools the
            ~40 ms import of pyzmq. ``builtin`` falls back to pyzmq for ssh
            tunnels, a given ``context``, CURVE and endpoints it cannot reach.
        curve: CURVE keys (:func:`~circus.client.load_curve_keys`) for a daemon
            whose ``[circus] curve_secret_key`` is set; None talks in clear.

    Example:
        >>> with CircusClient("tcp://127.0.0.1:5555") as client:
        ...     client.call("status")["statuses"]
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 5.0,
        context: zmq.SyncContext | None = None,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        check: bool = False,
        transport: Transport = "pyzmq",
        curve: CurveKeys | None = None,
    ) -> None:
        if transport not in ("pyzmq", "builtin"):
            raise ValueError(f"transport must be 'pyzmq' or 'builtin', not {transport!r}")
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.ssh_server = ssh_server
        self.ssh_keyfile = ssh_keyfile
        self.check = check
        self.transport = transport
        self.curve = curve
        self._own_context = context is None
        self._context = context
        self._connection: _Connection | None = None
        self._casts_pending = False

    def _builtin_usable(self) -> bool:
        from circus.client._zmtp import supports

        return (self.transport == "builtin" and self._context is None
                and self.ssh_server is None and self.curve is None and supports(self.endpoint))

    def _connected(self) -> _Connection:
        if self._connection is None:
            try:
                self._connection = self._connect()
            except BaseException:
                self.close()  # do not leave an owned context behind a failed connect
                raise
        return self._connection

    def _connect(self) -> _Connection:
        identity = os.urandom(16).hex().encode()
        if self._builtin_usable():
            from circus.client._probe import probe
            from circus.client._zmtp import ZmtpDealer

            probe(self.endpoint)
            return ZmtpDealer(self.endpoint, identity, self.timeout)
        import zmq
        from circus.client._dealer import open_dealer

        if self._context is None:
            self._context = zmq.Context()
        return _ZmqConnection(*open_dealer(self._context, self.endpoint, self.ssh_server,
                                           self.ssh_keyfile, self.timeout, self.curve))

    # The reply's type follows the command name when it is a literal, so
    # `client.call("list", name="web")["pids"]` is a list[int] to a type checker.
    @overload
    def call(self, command: Literal["list"], **props: object) -> ListReply: ...
    @overload
    def call(self, command: Literal["status"], **props: object) -> StatusReply: ...
    @overload
    def call(self, command: Literal["numprocesses"], **props: object) -> NumProcessesReply: ...
    @overload
    def call(self, command: Literal["numwatchers"], **props: object) -> NumWatchersReply: ...
    @overload
    def call(self, command: Literal["options", "get", "globaloptions"],
             **props: object) -> OptionsReply: ...
    @overload
    def call(self, command: Literal["listsockets"], **props: object) -> SocketsReply: ...
    @overload
    def call(self, command: Literal["dstats"], **props: object) -> DStatsReply: ...
    @overload
    def call(self, command: Literal["stats"], *, name: str, process: int,
             extended: bool = ...) -> ProcessStatsReply: ...
    @overload
    def call(self, command: Literal["stats"], *, name: str,
             extended: bool = ...) -> WatcherStatsReply: ...
    @overload
    def call(self, command: Literal["stats"], *, extended: bool = ...) -> StatsReply: ...
    @overload
    def call(self, command: Literal["incr", "decr"], **props: object) -> ScaleReply: ...
    @overload
    def call(self, command: Literal["start", "stop", "restart", "reload"],
             **props: object) -> ActionReply: ...
    @overload
    def call(self, command: Literal["ipython"], **props: object) -> IPythonReply: ...
    @overload
    def call(self, command: Literal["tail"], **props: object) -> TailReply: ...
    @overload
    def call(self, command: Literal["version"], **props: object) -> VersionReply: ...
    @overload
    def call(self, command: str | Message, **props: object) -> Reply: ...

    def call(self, command: str | Message, **props: object) -> Reply:
        """Send one command and return the daemon's reply dict.

        Args:
            command: a command name (``props`` are its properties), or a whole
                request as a dict or JSON string.
            **props: the command's properties.

        Returns:
            The reply, error replies included unless the client was made with
            ``check=True``: a plain dict, typed as the command's reply shape
            (:class:`~circus.client.ListReply` for ``"list"``...), or as
            :class:`~circus.client.Reply` for other commands and whole requests.

        Raises:
            ConnectionFailed: nothing answers at the endpoint.
            CallTimeout: no reply within ``timeout``.
            CallError: an error reply, with ``check=True``.
            ProtocolError: the reply is not a JSON object.
        """
        message = normalise(command, props)
        connection = self._connected()
        try:
            connection.send(encode(message))
            reply = self._wait_for(connection, str(message["id"]), str(message["command"]))
        except _Unsent:
            raise CallTimeout(self.endpoint, self.timeout, str(message["command"]),
                              curve=True) from None
        except OSError as exc:  # the builtin transport's socket broke
            self._drop_connection()
            raise ConnectionFailed(self.endpoint, "refused",
                                   f"lost the connection to circusd at {self.endpoint}: {exc}; "
                                   "is circusd still running?") from None
        return raise_for_status(reply) if self.check else reply

    send_message = call

    def cast(self, command: str | Message, **props: object) -> None:
        """Send a command the daemon runs without replying (``msg_type: cast``)."""
        message = normalise(command, props)
        message.pop("id", None)
        message["msg_type"] = "cast"
        self._connected().send(encode(message))
        self._casts_pending = True

    def tail(self, name: str, lines: int = 10) -> list[OutputLine]:
        """The last ``lines`` lines watcher ``name`` wrote, oldest first (``tail`` command).

        Follow on with an :class:`~circus.client.EventSubscriber` on
        ``watcher.<name>.output`` for the lines written after.

        Raises:
            CallError: an error reply (unknown watcher, ``publish_output`` off,
                a circusd without ``tail``: errno 2).
            ClientError: as :meth:`call`.
        """
        reply = raise_for_status(self.call("tail", name=name, lines=lines))
        return list(reply.get("lines", []))

    def version(self) -> str:
        """The version of circus-core running the daemon (``version`` command, ours).

        Raises:
            CallError: an error reply (a circusd without ``version``, such as
                upstream's: errno 2).
            ClientError: as :meth:`call`.
        """
        reply = raise_for_status(self.call("version"))
        return str(reply.get("version", ""))

    def _wait_for(self, connection: _Connection, msg_id: str, command: str) -> Reply:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not connection.poll(left):
                raise CallTimeout(self.endpoint, self.timeout, command,
                                  curve=self.curve is not None)
            reply = decode_reply(connection.recv())
            # A late reply to an earlier call that timed out: not ours.
            if reply.get("id") in (msg_id, None):
                return reply

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        """Close the connection (and the context, if the client made it)."""
        connection = self._connection
        if isinstance(connection, _ZmqConnection) and self._casts_pending:
            # Give queued casts the timeout to leave instead of dropping them.
            connection.close(linger_ms=int(self.timeout * 1000))
        elif connection is not None:
            connection.close()
        self._connection = None
        if self._own_context and self._context is not None:
            self._context.term()
            self._context = None

    def __enter__(self) -> CircusClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
