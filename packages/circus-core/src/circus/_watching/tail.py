"""A watcher's recent output, line by line: the ``tail`` command's ring buffer and the topic.

Only used with ``publish_output = true``: each line a process writes becomes
one :class:`OutputLine` ``{"pid", "stream", "data", "time"}``, published as
the event ``watcher.<name>.output`` and kept in a ring buffer that ``tail``
reads. The buffer holds the last :data:`TAIL_LINES` lines and at most
:data:`TAIL_BYTES` bytes of them, whichever bound is reached first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TypedDict

from circus.stream import StreamMessage

TAIL_LINES = 1000
"""Lines kept per watcher for ``tail``."""

TAIL_BYTES = 1024 * 1024
"""Bytes of ``data`` kept per watcher for ``tail`` (older lines go first)."""


class OutputLine(TypedDict):
    """One line of output, as published on ``watcher.<name>.output`` and answered by ``tail``."""

    pid: int
    stream: str
    #: The line with its newline (the last words of a process may lack it),
    #: decoded as UTF-8 with invalid bytes replaced.
    data: str
    time: float


Publish = Callable[[OutputLine], None]
"""Where each new line goes besides the buffer (the watcher's event bus)."""


def split_lines(data: bytes) -> list[bytes]:
    """``data`` cut after each newline; a last piece without one is a line too."""
    pieces = data.split(b"\n")
    last = pieces.pop()
    lines = [piece + b"\n" for piece in pieces]
    if last:
        lines.append(last)
    return lines


class OutputTail:
    """The ring buffer of one watcher's last lines; each added line is also published."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._lines: deque[tuple[int, OutputLine]] = deque()  # (raw size, line)
        self._bytes = 0

    def add(self, message: StreamMessage) -> None:
        """Cut one chunk of output into lines, keep and publish each."""
        now = message.get("timestamp") or time.time()  # papa's capture time, if replayed
        pid, stream = message["pid"], message["name"]
        kept = self._lines
        for raw in split_lines(message["data"]):
            line: OutputLine = {"pid": pid, "stream": stream,
                                "data": raw.decode("utf-8", "replace"), "time": now}
            kept.append((len(raw), line))
            self._bytes += len(raw)
            self._publish(line)
        while kept and (len(kept) > TAIL_LINES or self._bytes > TAIL_BYTES):
            self._bytes -= kept.popleft()[0]

    def last(self, count: int) -> list[OutputLine]:
        """The last ``count`` lines kept, oldest first."""
        if count <= 0:
            return []
        start = max(len(self._lines) - count, 0)
        return [line for _, line in list(self._lines)[start:]]
