"""The watch sub-protocol state of one connection.

After ``watch processes`` (or ``make process ... watch=1``) the connection
carries batches of records, each ended by ``"\\n] "``. Only one batch is in
flight: the next is sent after the client's ack line. The ack deletes what the
batch carried; a client that goes away without acking leaves the data for the
next watcher.

Handover (ours, ``watch processes handover=1`` on a unix socket): for each
``handover=1`` process, a batch may end with ``fds:NAME:TS:KINDS`` (KINDS is
``out``, ``err`` or ``out,err``), sent together with the output sockets of
the process (SCM_RIGHTS, in the order of KINDS). Everything papa captured
before comes in records ahead of it; everything after is read from the
sockets by the watcher. The handover lasts while the connection does.

``keep=1`` (ours): the session does not end when its processes are gone (no
"Nothing left to watch"), and a line ``+NAME...`` adds processes to it (it
acknowledges nothing), so one connection can watch processes made later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ._conn import FdPiece
from ._processes import Process

BATCH_END = b"\n] "
NOTHING_LEFT = b"Nothing left to watch\n> "
STOPPED = b"Stopped watching\n> "


class WatchSession:
    """Which processes a connection watches and what it has been sent."""

    def __init__(self, names: list[str], *, handover: bool = False, keep: bool = False) -> None:
        self.names = names
        self.handover = handover
        self.keep = keep
        # The processes whose output sockets this watcher reads, by name.
        self.delegated: dict[str, Process] = {}
        # Highest record number sent, per process; starts at 0 so a new
        # watcher receives everything that is still unacknowledged.
        self.sent: dict[str, int] = dict.fromkeys(names, 0)
        self.in_flight: dict[str, int] | None = None

    def next_batch(
        self,
        processes: Mapping[str, Process],
        hand_over: Callable[[Process], list[tuple[str, int]]] | None = None,
    ) -> list[bytes] | None:
        """Return the next batch to send, as pieces to write in order, or None.

        None means nothing is waiting. The pieces are the record headers and
        the captured chunks themselves, so the output is never copied into a
        batch: the connection hands them to the socket in one gathered write.
        With ``handover``, ``hand_over`` gives the sockets of a process, which
        go in an ``fds:`` record after the process's other records.
        Processes that are gone (exit acknowledged) or removed are dropped from
        the session; ``finished`` then tells whether any remain.
        """
        if self.in_flight is not None:
            return None
        pieces: list[bytes] = []
        in_flight: dict[str, int] = {}
        live: list[str] = []
        for name in self.names:
            process = processes.get(name)
            if process is None or process.removed:
                continue
            live.append(name)
            pending = process.output.pending(self.sent[name])
            if pending:
                for record in pending:
                    # Records are joined by a newline: it leads every header but the first.
                    header = record.header(name)
                    pieces.append(b"\n" + header if pieces else header)
                    if record.data:
                        pieces.append(record.data)
                in_flight[name] = self.sent[name] = pending[-1].seq
            if self.handover and hand_over is not None and name not in self.delegated:
                handed = hand_over(process)
                if handed:
                    self.delegated[name] = process
                    kinds = ",".join(kind for kind, _ in handed)
                    header = f"fds:{name}:{time.time()!r}:{kinds}".encode()
                    pieces.append(FdPiece(b"\n" + header if pieces else header,
                                          [fd for _, fd in handed]))
                    in_flight.setdefault(name, self.sent[name])
        self.names = live
        if not pieces:
            return None
        self.in_flight = in_flight
        pieces.append(BATCH_END)
        return pieces

    @property
    def finished(self) -> bool:
        """True when no watched process remains and no batch is in flight (never with keep)."""
        return not self.keep and not self.names and self.in_flight is None

    def add(self, names: list[str]) -> None:
        """Watch these processes too (``+NAME...``), from their first unacknowledged record."""
        for name in names:
            if name not in self.names:  # a name seen before may be a new process now
                self.names.append(name)
                self.sent[name] = 0

    def take_ack(self) -> dict[str, int]:
        """Mark the batch in flight as acknowledged and return what it carried."""
        acked, self.in_flight = self.in_flight or {}, None
        return acked
