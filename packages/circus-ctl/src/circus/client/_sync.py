"""The blocking client: one DEALER socket, one request at a time.

It is written straight on ``zmq`` (a poller and a deadline) rather than as a
facade over the asyncio client because ``circusctl`` must start fast: importing
asyncio and ``zmq.asyncio`` alone costs more than our whole start-up budget.
"""

from __future__ import annotations

import time
import uuid
from types import TracebackType
from typing import Any

import zmq
from circus.client._errors import CallTimeout, ConnectionFailed, raise_for_status
from circus.client._message import DEFAULT_ENDPOINT, Message, decode_reply, encode, normalise
from circus.client._probe import probe


def open_dealer(
    context: zmq.Context[Any], endpoint: str, ssh_server: str | None, ssh_keyfile: str | None,
    timeout: float,
) -> zmq.Socket[Any]:
    """A DEALER socket with a random identity, connected (maybe through ssh) to ``endpoint``."""
    if ssh_server is None:
        probe(endpoint)
    sock: zmq.Socket[Any] = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
    sock.setsockopt(zmq.LINGER, 0)
    try:
        if ssh_server is None:
            sock.connect(endpoint)
        else:
            connect_ssh(sock, endpoint, ssh_server, ssh_keyfile, timeout)
    except zmq.ZMQError as exc:
        sock.close()
        raise ConnectionFailed(
            endpoint, "invalid", f"cannot connect to {endpoint}: {exc}; "
            "check --endpoint / CIRCUSCTL_ENDPOINT",
        ) from exc
    except ConnectionFailed:
        sock.close()
        raise
    return sock


def connect_ssh(
    sock: zmq.Socket[Any], endpoint: str, server: str, keyfile: str | None, timeout: float
) -> None:
    """Connect ``sock`` to ``endpoint`` as seen from ``server`` (``user@host:port``)."""
    import importlib.util

    from zmq import ssh  # imported here: it pulls in multiprocessing and maybe paramiko

    # pyzmq defaults to pexpect + the ssh binary on POSIX; prefer paramiko when installed.
    use_paramiko = importlib.util.find_spec("paramiko") is not None
    try:
        # The tunnel process outlives idle periods shorter than this, then exits.
        ssh.tunnel_connection(sock, endpoint, server, keyfile=keyfile,  # type: ignore[call-overload]
                              paramiko=use_paramiko, timeout=max(int(timeout) + 10, 60))
    except Exception as exc:  # paramiko/pexpect raise many unrelated types
        raise ConnectionFailed(
            endpoint, "ssh", f"cannot open an ssh tunnel to {server} for {endpoint}: {exc}; "
            "check --ssh / --ssh_keyfile and that the key is accepted",
        ) from exc


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

    Example:
        >>> with CircusClient("tcp://127.0.0.1:5555") as client:
        ...     client.call("status")["statuses"]
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 5.0,
        context: zmq.Context[Any] | None = None,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        check: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.ssh_server = ssh_server
        self.ssh_keyfile = ssh_keyfile
        self.check = check
        self._own_context = context is None
        self._context = context
        self._socket: zmq.Socket[Any] | None = None
        self._casts_pending = False

    def _connected(self) -> zmq.Socket[Any]:
        if self._socket is None:
            if self._context is None:
                self._context = zmq.Context()
            try:
                self._socket = open_dealer(
                    self._context, self.endpoint, self.ssh_server, self.ssh_keyfile, self.timeout
                )
            except BaseException:
                self.close()  # do not leave an owned context behind a failed connect
                raise
        return self._socket

    def call(self, command: str | Message, **props: Any) -> dict[str, Any]:
        """Send one command and return the daemon's reply dict.

        Args:
            command: a command name (``props`` are its properties), or a whole
                request as a dict or JSON string.
            **props: the command's properties.

        Returns:
            The reply, error replies included unless the client was made with
            ``check=True``.

        Raises:
            ConnectionFailed: nothing answers at the endpoint.
            CallTimeout: no reply within ``timeout``.
            CallError: an error reply, with ``check=True``.
            ProtocolError: the reply is not a JSON object.
        """
        message = normalise(command, props)
        sock = self._connected()
        sock.send(encode(message))
        reply = self._wait_for(sock, message["id"], str(message["command"]))
        return raise_for_status(reply) if self.check else reply

    send_message = call

    def cast(self, command: str | Message, **props: Any) -> None:
        """Send a command the daemon runs without replying (``msg_type: cast``)."""
        message = normalise(command, props)
        message.pop("id", None)
        message["msg_type"] = "cast"
        self._connected().send(encode(message))
        self._casts_pending = True

    def _wait_for(self, sock: zmq.Socket[Any], msg_id: str, command: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                raise CallTimeout(self.endpoint, self.timeout, command)
            reply = decode_reply(sock.recv())
            # A late reply to an earlier call that timed out: not ours.
            if reply.get("id") in (msg_id, None):
                return reply

    def close(self) -> None:
        """Close the socket (and the context, if the client made it)."""
        if self._socket is not None:
            if self._casts_pending:
                # Give queued casts the timeout to leave instead of dropping them.
                self._socket.setsockopt(zmq.LINGER, int(self.timeout * 1000))
            self._socket.close()
            self._socket = None
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
