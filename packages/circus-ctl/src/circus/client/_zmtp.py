"""A minimal ZMTP 3 DEALER over a plain socket, for one-shot commands.

Why: importing pyzmq costs ~40 ms, two thirds of the time budget of a whole
``circusctl status``. A DEALER talking to circusd's ROUTER needs little of
ZMTP (RFC 23): the 64-byte greeting, the NULL mechanism's READY command, and
single-frame messages. That is all this speaks; anything else (CURVE, ssh
tunnels, a peer speaking ZMTP 2) is left to the pyzmq transport.
"""

from __future__ import annotations

import select
import socket
import struct

from circus.client._errors import ConnectionFailed, ProtocolError
from circus.client.protocol import EndpointError, parse_endpoint

# signature (0xFF, 8 bytes padding, 0x7F), version 3.0, mechanism NULL, as-server 0, filler.
_GREETING = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
_MORE, _LONG, _COMMAND = 0x01, 0x02, 0x04


def _frame(body: bytes, flags: int = 0) -> bytes:
    if len(body) <= 255:
        return bytes((flags, len(body))) + body
    return bytes((flags | _LONG,)) + struct.pack(">Q", len(body)) + body


def _ready(identity: bytes) -> bytes:
    def prop(name: bytes, value: bytes) -> bytes:
        return bytes((len(name),)) + name + struct.pack(">I", len(value)) + value

    body = b"\x05READY" + prop(b"Socket-Type", b"DEALER") + prop(b"Identity", identity)
    return _frame(body, _COMMAND)


def _connect(endpoint: str, timeout: float) -> socket.socket:
    parsed = parse_endpoint(endpoint)
    if parsed.scheme == "ipc":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(parsed.address)
        except BaseException:
            sock.close()
            raise
        return sock
    if parsed.host is None or parsed.port is None:  # parse_endpoint gives both for tcp
        raise EndpointError(f"invalid endpoint {endpoint!r}: expected tcp://HOST:PORT")
    sock = socket.create_connection((parsed.host, parsed.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def supports(endpoint: str) -> bool:
    """Whether this transport can reach ``endpoint`` (plain tcp://host:port or ipc://path)."""
    try:
        parsed = parse_endpoint(endpoint)
    except EndpointError:
        return False
    if parsed.scheme == "ipc":
        return not parsed.address.startswith("@")
    host = str(parsed.host)
    return ";" not in host and host != "*"


class ZmtpDealer:
    """One connection to a ZMQ ROUTER, speaking just enough ZMTP 3 to exchange frames.

    Args:
        endpoint: ``tcp://host:port`` or ``ipc:///path`` (see :func:`supports`).
        identity: the routing identity announced to the ROUTER.
        timeout: seconds allowed for connecting and for the handshake.

    Raises:
        ConnectionFailed: the connection or the handshake failed.
    """

    def __init__(self, endpoint: str, identity: bytes, timeout: float) -> None:
        self.endpoint = endpoint
        self._buffer = bytearray()
        try:
            self._sock = _connect(endpoint, timeout)
        except EndpointError as exc:
            raise ConnectionFailed(endpoint, "invalid", str(exc)) from None
        except OSError as exc:
            raise ConnectionFailed(endpoint, "refused",
                                   f"cannot reach circusd at {endpoint}: {exc}") from None
        try:
            # READY only after the peer's greeting: a peer that rejects ours closes the
            # connection, and unread bytes would turn its FIN into a reset that
            # discards the greeting telling us why.
            self._sock.sendall(_GREETING)
            greeting = self._read_exactly(64)
            if greeting[0] != 0xFF or greeting[9] != 0x7F or greeting[10] < 3:
                raise ProtocolError(f"{endpoint} does not speak ZMTP 3")
            mechanism = greeting[12:32].rstrip(b"\x00").decode("ascii", "replace")
            if mechanism != "NULL":
                raise ProtocolError(f"{endpoint} requires a security mechanism ({mechanism}): "
                                    "give its keys (circusctl --curve-server-key and "
                                    "--curve-key)")
            self._sock.sendall(_ready(identity))
            flags, body = self._read_frame()
            if not flags & _COMMAND or not body.startswith(b"\x05READY"):
                name = body[1 : 1 + body[0]].decode("ascii", "replace") if body else ""
                raise ProtocolError(f"{endpoint} refused the handshake ({name or 'no READY'})")
        except ConnectionResetError:
            # libzmq hangs up at once on a peer whose mechanism it does not accept.
            self.close()
            raise ProtocolError(
                f"{endpoint} closed the connection during the ZMTP handshake: it probably "
                "requires a security mechanism (CURVE): give its keys (circusctl "
                "--curve-server-key and --curve-key, or $CIRCUS_CURVE_SERVER_KEY and "
                "$CIRCUS_CURVE_KEY)"
            ) from None
        except OSError as exc:
            self.close()
            raise ConnectionFailed(endpoint, "refused",
                                   f"lost the connection to {endpoint}: {exc}") from None
        except ProtocolError:
            self.close()
            raise
        self._sock.settimeout(None)

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._sock.recv(max(65536, count - len(self._buffer)))
            if not chunk:
                raise ConnectionResetError("the daemon closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _read_frame(self) -> tuple[int, bytes]:
        flags = self._read_exactly(1)[0]
        if flags & _LONG:
            (size,) = struct.unpack(">Q", self._read_exactly(8))
        else:
            size = self._read_exactly(1)[0]
        return flags, self._read_exactly(size)

    def send(self, payload: bytes) -> None:
        """Send one single-frame message."""
        self._sock.sendall(_frame(payload))

    def poll(self, timeout: float) -> bool:
        """Whether data to read arrives within ``timeout`` seconds."""
        if self._buffer:
            return True
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0))
        return bool(ready)

    def recv(self) -> bytes:
        """The next message (its frames joined; circusd's replies have one), commands skipped."""
        parts: list[bytes] = []
        while True:
            flags, body = self._read_frame()
            if flags & _COMMAND:
                continue  # PING and the like: nothing a one-shot client must answer
            parts.append(body)
            if not flags & _MORE:
                return b"".join(parts)

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()
