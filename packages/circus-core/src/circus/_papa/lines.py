"""Whole lines out of papa's output records.

papa records one chunk per read of the child's pipe, so a line may come in
pieces (a ``print`` can be two writes). Streams prefix each line, as the pipe
readers hand them whole lines: pieces are joined here, per process and stream,
and stamped with the time the line's first piece was captured.
"""

from __future__ import annotations

from dataclasses import dataclass

# A longer line is written in pieces, as the pipe readers do.
MAX_PENDING = 64 * 1024


@dataclass
class _Pending:
    data: bytes
    timestamp: float


class LineJoiner:
    """Holds the unfinished last line of each (process, stream)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], _Pending] = {}

    def add(self, key: tuple[str, str], data: bytes, timestamp: float) -> tuple[bytes, float]:
        """Add a chunk; return the whole lines now complete (maybe b"") and their time."""
        latest = timestamp
        pending = self._pending.pop(key, None)
        if pending is not None:
            data, timestamp = pending.data + data, pending.timestamp
        cut = data.rfind(b"\n") + 1
        if len(data) - cut >= MAX_PENDING:
            cut = len(data)
        if cut < len(data):
            # What held no newline was pending: a rest after a newline began in this chunk.
            self._pending[key] = _Pending(data[cut:], latest if cut else timestamp)
        return data[:cut], timestamp

    def seed(self, key: tuple[str, str], data: bytes, timestamp: float) -> None:
        """Start ``key`` with an unfinished line a previous circusd kept in papa."""
        self._pending[key] = _Pending(data, timestamp)

    def flush_key(self, key: tuple[str, str]) -> tuple[bytes, float] | None:
        """Take the unfinished line of ``key`` (process, stream), if any."""
        pending = self._pending.pop(key, None)
        return None if pending is None else (pending.data, pending.timestamp)

    def flush(self, name: str | None = None) -> list[tuple[tuple[str, str], bytes, float]]:
        """Take the unfinished lines of process ``name`` (None: of all processes)."""
        keys = [key for key in self._pending if name is None or key[0] == name]
        return [(key, (p := self._pending.pop(key)).data, p.timestamp) for key in keys]
