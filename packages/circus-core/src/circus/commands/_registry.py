"""The command table: one entry per control-channel command.

A handler receives the arbiter and the request's :class:`Props`. It validates
synchronously (raising a :class:`~circus.errors.CircusError` for bad input)
and then either returns the reply fields at once (a dict, a list or None), or
returns a coroutine for a long operation. The dispatcher decides, from
``waiting``, whether the client hears back before or after that coroutine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from ._props import Props

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

JSONValue = Union[  # noqa: UP007 (a runtime alias)
    str, int, float, bool, None, dict[str, "JSONValue"], list["JSONValue"]
]
"""Plain data that ``json.dumps`` encodes as is."""

ReplyFields = Union[dict[str, object], list[object], None]  # noqa: UP007 (a runtime alias)
"""What a command answers: extra reply keys, a list (sent as ``results``) or nothing."""

Operation = Coroutine[object, None, ReplyFields]
"""A long operation: the coroutine whose result is the reply fields."""

HandlerResult = Union[ReplyFields, Operation]  # noqa: UP007 (a runtime alias)
Handler = Callable[["Arbiter", Props], HandlerResult]


@dataclass(frozen=True)
class Command:
    """One control command: its wire name, handler and one-line description."""

    name: str
    handler: Handler
    doc: str
    always_wait: bool = False
    """Reply only after the handler's coroutine finished, whatever ``waiting`` says."""


COMMANDS: dict[str, Command] = {}

# Every module that registers commands; imported once, on first dispatch.
_COMMAND_MODULES = (
    "circus.commands._info",
    "circus.commands._stats",
    "circus.commands._lifecycle",
    "circus.commands._scale",
    "circus.commands._manage",
    "circus.commands._signal",
    "circus.commands._declined",
    "circus.commands._report",
    "circus.commands._tail",
)


def command(name: str, *, always_wait: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of command ``name``.

    ``always_wait`` marks a command whose coroutine *is* the answer (``stats``):
    the client hears back after it, whatever ``waiting`` says.
    """

    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise RuntimeError(f"command {name!r} registered twice")
        doc = (handler.__doc__ or "").strip().splitlines()
        COMMANDS[name] = Command(name, handler, doc[0] if doc else "", always_wait)
        return handler

    return register


def load_commands() -> dict[str, Command]:
    """Import every command module (idempotent) and return the table."""
    for module in _COMMAND_MODULES:
        importlib.import_module(module)
    return COMMANDS
