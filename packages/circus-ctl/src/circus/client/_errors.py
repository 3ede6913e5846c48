"""The exceptions the client raises.

Every one derives from :class:`ClientError`, so a caller can catch at any level::

    ClientError
    ├── ConnectionFailed   nothing answers at the endpoint (refused, missing, denied, bad)
    ├── CallTimeout        connected, but no reply within the timeout
    ├── CallError          the daemon answered with an error reply
    └── ProtocolError      the daemon answered with something that is not a reply
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base class of every error raised by :mod:`circus.client`."""


class ConnectionFailed(ClientError):
    """Nothing usable answers at the endpoint.

    ``kind`` says why: ``"refused"`` (nothing listening), ``"missing"`` (the ipc
    file does not exist), ``"permission"`` (the ipc file may not be opened),
    ``"invalid"`` (the endpoint cannot be parsed) or ``"ssh"`` (the tunnel failed).
    """

    def __init__(self, endpoint: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.kind = kind


class CallTimeout(ClientError):
    """The daemon was reachable but sent no reply within ``timeout`` seconds."""

    def __init__(self, endpoint: str, timeout: float, command: str) -> None:
        super().__init__(
            f"no reply from circusd at {endpoint} to {command!r} within {timeout:g}s: "
            "the daemon is busy or the operation is slow; "
            "raise the timeout (circusctl --timeout) and try again"
        )
        self.endpoint = endpoint
        self.timeout = timeout
        self.command = command


class CallError(ClientError):
    """The daemon replied with ``"status": "error"``.

    Attributes:
        errno: the wire error number (1 invalid JSON ... 6 bad message data).
        reason: the daemon's explanation.
        reply: the whole reply dict.
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.reason = str(reply.get("reason", "unknown error"))
        errno = reply.get("errno", 0)
        self.errno = errno if isinstance(errno, int) else 0
        super().__init__(self.reason)


class ProtocolError(ClientError):
    """The daemon sent a frame that is not a JSON object."""


def raise_for_status(reply: dict[str, Any]) -> dict[str, Any]:
    """Return ``reply`` unchanged, or raise :class:`CallError` if it is an error reply."""
    if reply.get("status") == "error":
        raise CallError(reply)
    return reply
