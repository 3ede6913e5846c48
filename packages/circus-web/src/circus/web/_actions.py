"""The console's actions, each one circusd command, checked before it is sent.

An action arrives as a POST with form (or JSON) fields. ``build`` turns it
into ``(command, properties)`` or raises :class:`ActionError` with a message
for the user; nothing reaches circusd that the table below does not allow.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Any

Fields = Mapping[str, str]
Request = tuple[str, dict[str, Any]]


class ActionError(ValueError):
    """A malformed action; the message says which field is wrong."""


def _need(fields: Fields, key: str) -> str:
    value = fields.get(key, "").strip()
    if not value:
        raise ActionError(f"field {key!r} is required")
    return value


def _int(fields: Fields, key: str, default: int | None = None, low: int = 1) -> int:
    text = fields.get(key, "").strip()
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ActionError(f"field {key!r}: expected a whole number, got {text!r}") from None
    if value < low:
        raise ActionError(f"field {key!r}: must be at least {low}, got {value}")
    return value


def _lifecycle(command: str) -> Callable[[Fields], Request]:
    def build(fields: Fields) -> Request:
        return command, {"name": _need(fields, "name"), "waiting": True}
    return build


def _scale(command: str) -> Callable[[Fields], Request]:
    def build(fields: Fields) -> Request:
        return command, {"name": _need(fields, "name"), "nb": _int(fields, "nb", 1)}
    return build


def _kill(fields: Fields) -> Request:
    return "kill", {"name": _need(fields, "name"), "pid": _int(fields, "pid")}


def _set(fields: Fields) -> Request:
    key = _need(fields, "key")
    return "set", {"name": _need(fields, "name"), "options": {key: fields.get("value", "")}}


def _add(fields: Fields) -> Request:
    name = _need(fields, "name")
    try:
        argv = shlex.split(_need(fields, "cmd"))
    except ValueError as exc:
        raise ActionError(f"field 'cmd': {exc}") from None
    if not argv:
        raise ActionError("field 'cmd' is required")
    options: dict[str, Any] = {"numprocesses": _int(fields, "numprocesses", 1, low=0)}
    working_dir = fields.get("working_dir", "").strip()
    if working_dir:
        options["working_dir"] = working_dir
    return "add", {"name": name, "cmd": argv[0], "args": argv[1:], "start": True,
                   "options": options}


def _rm(fields: Fields) -> Request:
    return "rm", {"name": _need(fields, "name"), "waiting": True}


def _reloadconfig(fields: Fields) -> Request:
    return "reloadconfig", {"waiting": True}


ACTIONS: dict[str, Callable[[Fields], Request]] = {
    "add": _add,
    "decr": _scale("decr"),
    "incr": _scale("incr"),
    "kill": _kill,
    "reload": _lifecycle("reload"),
    "reloadconfig": _reloadconfig,
    "restart": _lifecycle("restart"),
    "rm": _rm,
    "set": _set,
    "start": _lifecycle("start"),
    "stop": _lifecycle("stop"),
}
"""Every action the console offers, by the name in its URL."""


def build(action: str, fields: Fields) -> Request:
    """The circusd command and properties for ``action``.

    Raises:
        ActionError: unknown action or a bad field.
    """
    builder = ACTIONS.get(action)
    if builder is None:
        raise ActionError(f"unknown action {action!r}")
    return builder(fields)
