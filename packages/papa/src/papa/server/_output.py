"""Captured output of one process, kept until a watcher acknowledges it.

Output and the exit record are numbered with a per-process sequence number.
A watcher remembers the highest number it has sent, and its ack deletes
everything up to that number. Sequence numbers rather than timestamps make the
ack exact even when two chunks share a timestamp.

The buffer holds at most ``bufsize`` bytes of output: on overflow the oldest
whole chunks are dropped, and a single chunk larger than the cap is kept whole.
The exit record is never dropped, so a manager that was down still learns how
its process ended.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """One captured chunk (``out``/``err``) or the exit record (``closed``)."""

    seq: int
    kind: str
    timestamp: float
    data: bytes = b""
    exit_code: int = 0

    def encode(self, name: str) -> bytes:
        """Return the record in watch framing, without the joining newline."""
        if self.kind == "closed":
            return f"closed:{name}:{self.timestamp!r}:{self.exit_code}".encode()
        header = f"{self.kind}:{name}:{self.timestamp!r}:{len(self.data)}\n"
        return header.encode("utf-8", "surrogateescape") + self.data


class OutputBuffer:
    """Chunks of one process's stdout and stderr plus its exit record."""

    def __init__(self, bufsize: int) -> None:
        self.bufsize = bufsize
        self.size = 0
        self._chunks: deque[Record] = deque()
        self._closed: Record | None = None
        self._last_seq = 0

    def _next_seq(self) -> int:
        self._last_seq += 1
        return self._last_seq

    def append(self, kind: str, data: bytes, timestamp: float) -> None:
        """Keep a chunk, dropping the oldest whole chunks beyond ``bufsize``."""
        self._chunks.append(Record(self._next_seq(), kind, timestamp, data))
        self.size += len(data)
        while self.size > self.bufsize and len(self._chunks) > 1:
            self.size -= len(self._chunks.popleft().data)

    def close(self, exit_code: int, timestamp: float) -> None:
        """Record the exit code; it stays until acknowledged."""
        self._closed = Record(self._next_seq(), "closed", timestamp, exit_code=exit_code)

    def clear(self) -> None:
        """Forget all captured output (the exit record is kept)."""
        self._chunks.clear()
        self.size = 0

    def pending(self, after: int) -> list[Record]:
        """Return the records numbered above ``after``, oldest first."""
        records = [chunk for chunk in self._chunks if chunk.seq > after]
        if self._closed is not None and self._closed.seq > after:
            records.append(self._closed)
        return records

    def ack(self, upto: int) -> bool:
        """Delete the records numbered up to ``upto``.

        Returns:
            True when the exit record was among them, i.e. the process is done.
        """
        while self._chunks and self._chunks[0].seq <= upto:
            self.size -= len(self._chunks.popleft().data)
        if self._closed is not None and self._closed.seq <= upto:
            self._closed = None
            return True
        return False
