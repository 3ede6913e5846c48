"""Captured output of one process, kept until a watcher acknowledges it.

Output and the exit record are numbered with a per-process sequence number.
A watcher remembers the highest number it has sent, and its ack deletes
everything up to that number. Sequence numbers rather than timestamps make the
ack exact even when two chunks share a timestamp.

The buffer holds at most ``bufsize`` bytes of output. By default (papa 1.0.6)
the oldest whole chunks are dropped on overflow, and a single chunk larger
than the cap is kept whole. With backpressure nothing is dropped: the loop
stops reading the process's pipes while the buffer is ``full`` instead. The
exit record is never dropped, so a manager that was down still learns how its
process ended.
"""

from __future__ import annotations

from collections import deque
from itertools import islice


class Record:
    """One captured chunk (``out``/``err``) or the exit record (``closed``)."""

    # A plain slotted class: one is made per chunk read, on the hot path.
    __slots__ = ("data", "exit_code", "kind", "seq", "timestamp")

    def __init__(
        self, seq: int, kind: str, timestamp: float, data: bytes = b"", exit_code: int = 0
    ) -> None:
        self.seq = seq
        self.kind = kind
        self.timestamp = timestamp
        self.data = data
        self.exit_code = exit_code

    def header(self, name: str) -> bytes:
        """The record's text part: all of a ``closed`` record, or the line before the data."""
        if self.kind == "closed":
            return f"closed:{name}:{self.timestamp!r}:{self.exit_code}".encode()
        header = f"{self.kind}:{name}:{self.timestamp!r}:{len(self.data)}\n"
        return header.encode("utf-8", "surrogateescape")


class OutputBuffer:
    """Chunks of one process's stdout and stderr plus its exit record."""

    def __init__(self, bufsize: int, *, drop: bool = True) -> None:
        self.bufsize = bufsize
        self.drop = drop
        self.size = 0
        self._chunks: deque[Record] = deque()
        self._closed: Record | None = None
        self._last_seq = 0

    @property
    def full(self) -> bool:
        """True when the unacknowledged output reaches ``bufsize``."""
        return self.size >= self.bufsize

    def _next_seq(self) -> int:
        self._last_seq += 1
        return self._last_seq

    def append(self, kind: str, data: bytes, timestamp: float) -> None:
        """Keep a chunk; unless backpressure applies, drop the oldest beyond ``bufsize``."""
        self._chunks.append(Record(self._next_seq(), kind, timestamp, data))
        self.size += len(data)
        if self.drop:
            while self.size > self.bufsize and len(self._chunks) > 1:
                self.size -= len(self._chunks.popleft().data)

    def close(self, exit_code: int, timestamp: float) -> None:
        """Record the exit code; it stays until acknowledged."""
        self._closed = Record(self._next_seq(), "closed", timestamp, exit_code=exit_code)

    def reclose(self) -> None:
        """Number the exit record after the output captured since (a handover ended)."""
        if self._closed is not None:
            self._closed.seq = self._next_seq()

    def clear(self) -> None:
        """Forget all captured output (the exit record is kept)."""
        self._chunks.clear()
        self.size = 0

    def pending(self, after: int) -> list[Record]:
        """Return the records numbered above ``after``, oldest first."""
        records: list[Record] = []
        if self._chunks:
            # Chunk numbers are consecutive (only the oldest are ever removed),
            # so the first unsent chunk is found by arithmetic, not a scan.
            start = max(0, after + 1 - self._chunks[0].seq)
            records.extend(islice(self._chunks, start, None))
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
