"""The exceptions the client raises.

Every one derives from :class:`ClientError`, so a caller can catch at any level::

    ClientError
    ├── ConnectionFailed   nothing answers at the endpoint (refused, missing, denied, bad)
    ├── CallTimeout        connected, but no reply within the timeout
    ├── CallError          the daemon answered with an error reply (errno 0 or unknown)
    │   ├── InvalidJSONError        errno 1 INVALID_JSON
    │   ├── UnknownCommandError     errno 2 UNKNOWN_COMMAND
    │   ├── MessageError            errno 3 MESSAGE_ERROR
    │   ├── CircusOSError           errno 4 OS_ERROR
    │   ├── CommandError            errno 5 COMMAND_ERROR
    │   └── BadMessageDataError     errno 6 BAD_MSG_DATA_ERROR
    ├── ProtocolError      the daemon answered with something that is not a reply
    └── KeyFileError       a CURVE key file is missing or wrong (circus.client._curve)

The ``CallError`` subclasses carry the names and numbers of circusd's
exception tree (``circus.errors``), so an error raised in the daemon comes
back as the class of the same name. The wire carries only the number:
circusd's ``ConflictError`` and ``ConfigError`` (errno 5, subclasses of its
``CommandError``) arrive as :class:`CommandError`, and its
``UnknownWatcherError`` (errno 3) as :class:`MessageError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from circus.client.protocol import (
    BAD_MSG_DATA_ERROR,
    COMMAND_ERROR,
    INVALID_JSON,
    MESSAGE_ERROR,
    NOT_SPECIFIED,
    OS_ERROR,
    UNKNOWN_COMMAND,
)


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

    def __init__(self, endpoint: str, timeout: float, command: str, *,
                 curve: bool = False) -> None:
        # A daemon that refuses a CURVE key says nothing: the client just hears nothing.
        why = ("circusd does not accept this client's key (is its .key file in circusd's "
               "curve_authorized_keys, and is --curve-server-key circusd's public key?), "
               "or the daemon is busy; " if curve else
               "the daemon is busy or the operation is slow; ")
        super().__init__(
            f"no reply from circusd at {endpoint} to {command!r} within {timeout:g}s: "
            f"{why}raise the timeout (circusctl --timeout) and try again"
        )
        self.endpoint = endpoint
        self.timeout = timeout
        self.command = command


class CallError(ClientError):
    """The daemon replied with ``"status": "error"``.

    Raised as the subclass matching the reply's errno (see :func:`error_for_reply`);
    ``CallError`` itself for errno 0 and for numbers this client does not know.

    Attributes:
        errno: the wire error number (1 invalid JSON ... 6 bad message data).
        reason: the daemon's explanation.
        reply: the whole reply dict (a :class:`~circus.client.Reply`), as received.
    """

    errno: int = NOT_SPECIFIED
    """The errno the class stands for; an instance holds the one its reply carried."""

    reply: Mapping[str, object]
    """The error reply, as received."""

    def __init__(self, reply: Mapping[str, object]) -> None:
        self.reply = reply
        self.reason = str(reply.get("reason", "unknown error"))
        errno = reply.get("errno", 0)
        self.errno = errno if type(errno) is int else NOT_SPECIFIED  # not a bool, not a str
        super().__init__(self.reason)


class InvalidJSONError(CallError):
    """The daemon could not parse the request as JSON (errno 1)."""

    errno = INVALID_JSON


class UnknownCommandError(CallError):
    """The request named a command the daemon does not have (errno 2)."""

    errno = UNKNOWN_COMMAND


class MessageError(CallError):
    """A property was missing or wrong, or named nothing such as an unknown watcher (errno 3)."""

    errno = MESSAGE_ERROR


class CircusOSError(CallError):
    """An operating-system call failed in the daemon while carrying out the command (errno 4)."""

    errno = OS_ERROR


class CommandError(CallError):
    """A well-formed command could not be carried out: a conflict, a bad config (errno 5)."""

    errno = COMMAND_ERROR


class BadMessageDataError(CallError):
    """The daemon failed while handling an otherwise valid request (errno 6)."""

    errno = BAD_MSG_DATA_ERROR


ERRNO_CLASSES: dict[int, type[CallError]] = {
    cls.errno: cls
    for cls in (CallError, InvalidJSONError, UnknownCommandError, MessageError, CircusOSError,
                CommandError, BadMessageDataError)
}
"""Each wire errno and the :class:`CallError` class an error reply carrying it raises."""


def error_for_reply(reply: Mapping[str, object]) -> CallError:
    """The exception for an error reply: the :class:`CallError` subclass of its errno."""
    errno = reply.get("errno")
    cls = ERRNO_CLASSES.get(errno, CallError) if type(errno) is int else CallError
    return cls(reply)


class ProtocolError(ClientError):
    """The daemon sent a frame that is not a JSON object."""


_ReplyT = TypeVar("_ReplyT", bound=Mapping[str, object])


def raise_for_status(reply: _ReplyT) -> _ReplyT:
    """Return ``reply`` unchanged, or raise the :class:`CallError` of its errno for an error.

    The reply keeps its type: ``raise_for_status(client.call("list"))["pids"]``.
    """
    if reply.get("status") == "error":
        raise error_for_reply(reply)
    return reply
