"""Pieces shared by the stream classes: the protocol, option coercion, prefixes, writes."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal, Protocol, TypedDict, runtime_checkable

from circus._base.parsers import parse_bool, parse_int, parse_size

#: Which pipe of a process a chunk of output comes from.
StreamName = Literal["stdout", "stderr"]


class _Chunk(TypedDict):
    #: The process the output comes from.
    pid: int
    #: The pipe it was read from.
    name: StreamName
    #: The raw bytes, never decoded.
    data: bytes


class StreamMessage(_Chunk, total=False):
    """One chunk of a process's output, as handed to a :class:`Stream`.

    ``data`` holds whole lines (ending in ``b"\\n"``) except for the last
    words of a process and pieces of over-long lines. ``pid``, ``name`` and
    ``data`` are always there; ``timestamp`` (epoch seconds) only when the
    output was captured earlier than it is written: papa's capture time for
    output replayed after a restart. Line prefixes use it.
    """

    timestamp: float


@runtime_checkable
class Stream(Protocol):
    """What the pipe readers feed: a callable plus ``close()`` and ``reopen()``.

    The callable receives a :class:`StreamMessage`, ``{"pid": int, "name":
    "stdout" | "stderr", "data": bytes}``. Custom streams may leave their
    ``__call__`` parameter unannotated, as upstream streams did.
    ``reopen()`` is called on SIGHUP and ``reload`` so files moved away by an
    external rotation tool are let go; ``close()`` releases every resource.
    """

    def __call__(self, data: StreamMessage) -> None:
        """Consume one chunk of output."""

    def close(self) -> None:
        """Release files and other resources."""

    def reopen(self) -> None:
        """Reopen files (after an external rotation, on SIGHUP or reload)."""


# -- option coercion -------------------------------------------------------------------------
# Options reach the constructors either typed (Python API) or as text (INI file); the
# helpers below accept both and name the option in the error so config errors are readable.


def option_size(name: str, value: object) -> int:
    """Coerce a byte count (``250M``) or raise ValueError naming the option."""
    try:
        size: int = parse_size(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}, got {value!r}") from None
    return size


def option_count(name: str, value: object, minimum: int = 0) -> int:
    """Coerce an integer that must be at least ``minimum``."""
    try:
        number: int = parse_int(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return number


def option_seconds(name: str, value: object) -> float:
    """Coerce a duration in seconds (``>= 0``, text or a number)."""
    try:
        seconds = float(value) if isinstance(value, (int, float, str)) else math.nan
    except ValueError:
        seconds = math.nan
    if isinstance(value, bool) or not seconds >= 0 or math.isinf(seconds):
        raise ValueError(f"{name}: expected a number of seconds >= 0, got {value!r}")
    return seconds


def option_bool(name: str, value: object) -> bool:
    """Coerce a boolean given as ``true``/``false``/... text or a bool."""
    try:
        flag: bool = parse_bool(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}, got {value!r}") from None
    return flag


def option_text(name: str, value: object) -> str | None:
    """Coerce an optional text option; an empty INI value means "not set"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {value!r}")
    return value or None


def option_path(name: str, value: object) -> str:
    """Coerce a file name to an absolute path.

    Made absolute once, here, so a later change of the daemon's working
    directory cannot move the log file.
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return os.path.abspath(path)
    raise ValueError(f"{name}: expected a file path, got {value!r}")


# -- line prefixes ---------------------------------------------------------------------------


class TimePrefixer:
    """Builds ``"<strftime(time_format)> [<pid>] | "`` prefixes.

    The formatted time is cached for the current second because strftime costs
    far more than the write it decorates; formats with ``%f`` are never cached.
    """

    def __init__(self, time_format: str, *, utc: bool = False) -> None:
        self.time_format = time_format
        self._utc = utc
        self._cacheable = "%f" not in time_format
        self._second = -1
        self._stamp = ""

    def stamp(self, now: float) -> str:
        """Return the formatted time for the epoch time ``now``."""
        second = int(now)
        if self._cacheable and second == self._second:
            return self._stamp
        moment = datetime.fromtimestamp(now, timezone.utc if self._utc else None)
        self._stamp = moment.strftime(self.time_format)
        self._second = second
        return self._stamp

    def prefix(self, pid: object, now: float) -> bytes:
        """Return the prefix for one line of process ``pid``."""
        return f"{self.stamp(now)} [{pid}] | ".encode()


def prefix_lines(data: bytes, prefix: bytes, suffix: bytes = b"") -> bytes:
    """Put ``prefix`` before (and ``suffix`` after) every line of ``data``.

    Done with one ``bytes.replace`` instead of a split/join per line: the whole
    chunk stays one buffer, so it is still written with a single ``os.write``.
    A trailing fragment without newline (the last words of a process, or a
    piece of an over-long line) gets a newline: output from the next chunk,
    maybe of another process, must start a prefixed line of its own.
    """
    glue = suffix + b"\n" + prefix
    body = data[:-1] if data.endswith(b"\n") else data
    return prefix + body.replace(b"\n", glue) + suffix + b"\n"


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write ``data`` to ``fd`` completely, looping on short writes.

    Regular files nearly always take the whole buffer in one call, so the loop
    (and its memoryview) only exists for the rare partial write.
    """
    written = os.write(fd, data)
    if written == len(data):
        return
    view = memoryview(data)[written:]
    while view:
        written = os.write(fd, view)
        view = view[written:]


# The clock used for line prefixes and timed rotation; an instance attribute
# ``_now`` of this type can be replaced in tests.
Clock = Callable[[], float]
wall_clock: Clock = time.time
