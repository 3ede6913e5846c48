"""Typed access to a request's ``properties``, with upstream's error texts.

Each accessor raises :class:`~circus.errors.MessageError` (errno 3) naming the
property and what was expected, so handlers never see a wrongly typed value.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar, overload

from circus.errors import MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

_D = TypeVar("_D")


class _Missing(enum.Enum):
    """"No default given": the property is required (None is a valid default)."""

    MISSING = enum.auto()


_MISSING = _Missing.MISSING


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


class Props:
    """The ``properties`` object of one request.

    Each accessor returns the property with its type, or ``default`` (of
    whatever type the caller gives) when it is absent or null; without a
    default the property is required.
    """

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw

    def __contains__(self, name: str) -> bool:
        return name in self.raw and self.raw[name] is not None

    def _get(self, name: str, default: _D | _Missing) -> object | _D:
        value = self.raw.get(name)
        if value is None:
            if isinstance(default, _Missing):
                raise MessageError(f"message invalid {name!r} is missing")
            return default
        return value

    def _wrong(self, name: str, value: object, expected: str) -> MessageError:
        return MessageError(f"property {name!r}: expected {expected}, got {_kind(value)} "
                            f"{value!r}")

    @overload
    def text(self, name: str) -> str: ...
    @overload
    def text(self, name: str, default: _D) -> str | _D: ...
    def text(self, name: str, default: object = _MISSING) -> object:
        """A string property (required unless ``default`` is given)."""
        value = self._get(name, default)
        if value is not default and not isinstance(value, str):
            raise self._wrong(name, value, "a string")
        return value

    @overload
    def flag(self, name: str) -> bool: ...
    @overload
    def flag(self, name: str, default: _D) -> bool | _D: ...
    def flag(self, name: str, default: object = _MISSING) -> object:
        """A boolean; also accepts the strings circusctl-like clients send."""
        value = self._get(name, default)
        if value is default or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise self._wrong(name, value, "a boolean")

    @overload
    def integer(self, name: str, *, coerce: bool = ...) -> int: ...
    @overload
    def integer(self, name: str, default: _D, *, coerce: bool = ...) -> int | _D: ...
    def integer(self, name: str, default: object = _MISSING, *, coerce: bool = True) -> object:
        """An integer; numeric strings are accepted when ``coerce``."""
        value = self._get(name, default)
        if value is default:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if coerce and isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        raise self._wrong(name, value, "an integer")

    @overload
    def number(self, name: str, *, coerce: bool = ...) -> float: ...
    @overload
    def number(self, name: str, default: _D, *, coerce: bool = ...) -> float | _D: ...
    def number(self, name: str, default: object = _MISSING, *, coerce: bool = True) -> object:
        """A float; integers and (when ``coerce``) numeric strings are accepted."""
        value = self._get(name, default)
        if value is default:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if coerce and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise self._wrong(name, value, "a number")

    @overload
    def array(self, name: str) -> list[object]: ...
    @overload
    def array(self, name: str, default: _D) -> list[object] | _D: ...
    def array(self, name: str, default: object = _MISSING) -> object:
        """A JSON array."""
        value = self._get(name, default)
        if value is not default and not isinstance(value, list):
            raise self._wrong(name, value, "a list")
        return value

    @overload
    def mapping(self, name: str) -> dict[str, object]: ...
    @overload
    def mapping(self, name: str, default: _D) -> dict[str, object] | _D: ...
    def mapping(self, name: str, default: object = _MISSING) -> object:
        """A JSON object."""
        value = self._get(name, default)
        if value is not default and not isinstance(value, dict):
            raise self._wrong(name, value, "an object")
        return value

    def watcher(self, arbiter: Arbiter, name: str = "name") -> Watcher:
        """The watcher named by property ``name`` (errno 3 when there is none)."""
        watcher_name = self.text(name)
        for watcher in arbiter.watchers:
            if watcher.name.lower() == watcher_name.lower():
                return watcher
        raise MessageError(f"program {watcher_name} not found")

    @property
    def waiting(self) -> bool:
        """Whether the client wants the reply after the operation finished."""
        return bool(self.flag("waiting", False))


_BOOLS = {"true": True, "1": True, "yes": True, "on": True,
          "false": False, "0": False, "no": False, "off": False}
