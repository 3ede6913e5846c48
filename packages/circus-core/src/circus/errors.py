"""The Circus exception tree.

Every class carries the ``errno`` the control channel sends for it, so the
server turns an exception into a reply in one place and a client can turn the
reply back into the same class::

    CircusError (0 NOT_SPECIFIED)
    ├── InvalidJSONError (1)
    ├── UnknownCommandError (2)
    ├── MessageError (3)
    │   └── UnknownWatcherError (3)
    ├── CircusOSError (4)
    ├── CommandError (5)
    │   ├── ConflictError (5)
    │   ├── ConfigError (5)
    │   └── PermissionDenied (5)
    └── BadMessageDataError (6)
"""

from __future__ import annotations

NOT_SPECIFIED = 0
INVALID_JSON = 1
UNKNOWN_COMMAND = 2
MESSAGE_ERROR = 3
OS_ERROR = 4
COMMAND_ERROR = 5
BAD_MSG_DATA_ERROR = 6


class CircusError(Exception):
    """Root of every error Circus raises on purpose."""

    errno: int = NOT_SPECIFIED


class InvalidJSONError(CircusError):
    """A control message was not valid JSON."""

    errno = INVALID_JSON


class UnknownCommandError(CircusError):
    """A control message named a command that does not exist."""

    errno = UNKNOWN_COMMAND


class MessageError(CircusError):
    """A control message is missing a property or has one of the wrong type."""

    errno = MESSAGE_ERROR


class CircusOSError(CircusError):
    """An operating-system call failed while carrying out a command."""

    errno = OS_ERROR


class CommandError(CircusError):
    """A well-formed command could not be carried out."""

    errno = COMMAND_ERROR


class ConflictError(CommandError):
    """An operation conflicts with the current state (for example a duplicate name)."""


class PermissionDenied(CommandError):
    """The caller's CURVE role does not allow the command (the text says which and why)."""


class UnknownWatcherError(MessageError):
    """A command named a watcher that does not exist."""


class ConfigError(CommandError):
    """A configuration file or option is invalid.

    The message names the file, line, section, option, the bad value and what
    was expected, as far as each is known.
    """


class BadMessageDataError(CircusError):
    """The daemon failed while handling an otherwise valid message."""

    errno = BAD_MSG_DATA_ERROR


ERRNO_CLASSES: dict[int, type[CircusError]] = {
    NOT_SPECIFIED: CircusError,
    INVALID_JSON: InvalidJSONError,
    UNKNOWN_COMMAND: UnknownCommandError,
    MESSAGE_ERROR: MessageError,
    OS_ERROR: CircusOSError,
    COMMAND_ERROR: CommandError,
    BAD_MSG_DATA_ERROR: BadMessageDataError,
}
