"""Watcher: the client side of the ``watch processes`` sub-protocol.

A batch from the kernel is a run of records ended by ``] ``::

    out:<name>:<timestamp>:<length>\\n<length bytes>\\n
    err:<name>:<timestamp>:<length>\\n<length bytes>\\n
    closed:<name>:<timestamp>:<exit code>\\n

The kernel sends nothing more until the batch is acknowledged with a newline,
and deletes the data only then; ``q`` acknowledges and leaves watch mode. Once
every watched process has closed and been acknowledged it says ``Nothing left
to watch`` and the connection is back in command mode.

With ``watch_processes(..., handover=True)`` (ours), a batch may also carry
``fds:<name>:<timestamp>:<kinds>``: the kernel hands the output sockets of a
``handover=1`` process to this watcher (see :class:`Handover`).

Headers are split from the right, so a name that contains ``:`` (which another
client may have created) still parses.
"""

from __future__ import annotations

import select
import socket
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from ._wire import PROMPT, Connection, Error, check, decode

if TYPE_CHECKING:
    from ._client import Papa

_BATCH_END = b"] "
_ENDINGS = ("Nothing left to watch", "Stopped watching")


class ProcessOutput(NamedTuple):
    """One record from a watched process.

    ``data`` is the captured ``bytes`` for an ``out``/``err`` record and the
    int exit code (negative for a signal, as with Popen) for a ``closed`` one.
    ``timestamp`` is when the kernel captured it, in float seconds since the epoch.
    """

    name: str
    timestamp: float
    data: bytes | int


class Handover(NamedTuple):
    """Output sockets of a process, handed to this watcher (ours, not in papa 1.0.6).

    From now on the process's output is not in ``out``/``err`` records: read
    it from these sockets (None: not captured). Consume only what is saved,
    e.g. peek (``MSG_PEEK``), save, then receive that much: while the watch
    connection lasts nobody else reads them, and when it ends the kernel
    reads on from the first byte left. Close them when done, and before
    the watch ends. The exit still comes as a ``closed`` record; the sockets
    reach end-of-file once the process and whatever inherited them exit.
    """

    name: str
    timestamp: float
    stdout: socket.socket | None
    stderr: socket.socket | None


class Watcher:
    """The output, and then the exit code, of the processes being watched.

    A Watcher owns a connection while it watches (the Papa object opens another
    one for its next command) and hands it back when the watch ends. It works
    with ``select`` through :meth:`fileno`, but prefer :attr:`ready`, which also
    sees bytes already buffered here. Not thread-safe.
    """

    def __init__(self, connection: Connection, owner: Papa | None, count: int) -> None:
        self._connection: Connection | None = connection
        self._owner = owner
        self._count = count
        self._closed_names: set[str] = set()
        self._ack_pending = False
        self._finished = False
        self.exit_code: dict[str, int] = {}
        """Exit code of each watched process that has closed, by name."""
        self.handovers: list[Handover] = []
        """The handovers of the last batch :meth:`read` returned (ours)."""

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __bool__(self) -> bool:
        """True while there may be more to read.

        False once the watcher is closed, the kernel said nothing is left to
        watch, or every watched process has reported its exit (the last batch
        may still await an acknowledgement, which :meth:`close` sends).
        """
        if self._connection is None or self._finished:
            return False
        return len(self._closed_names) < self._count

    def __repr__(self) -> str:
        state = "active" if self else "done"
        return f"<papa.Watcher {state}, {len(self._closed_names)}/{self._count} closed>"

    def fileno(self) -> int:
        """The socket's file descriptor, for ``select`` (-1 once closed)."""
        return self._connection.fileno() if self._connection is not None else -1

    @property
    def ready(self) -> bool:
        """True if :meth:`read` has something to return without waiting for a process.

        Never blocks: it looks at the bytes already buffered, then polls the
        socket with a zero timeout. While a batch awaits its acknowledgement the
        kernel sends nothing, so ``ready`` stays False until :meth:`acknowledge`
        (or the next :meth:`read`) is called. False once the watch is over.
        """
        if self._connection is None or self._finished:
            return False
        if self._connection.buffer:
            return True
        readable, _, _ = select.select([self._connection.sock], [], [], 0)
        return bool(readable)

    def add(self, *names: str) -> None:
        """Watch these processes too (ours; the watch was started with ``keep=True``).

        Sends ``+NAME...``, which acknowledges nothing. Unknown names are ignored.

        Raises:
            Error: the connection to the kernel was lost.
        """
        if self._connection is None or not names:
            return
        if any(":" in name or " " in name for name in names):
            raise Error(f"Bad process name in {names!r}")
        self._connection.send(("+" + " ".join(names) + "\n").encode())
        self._count += len(names)

    def acknowledge(self) -> None:
        """Tell the kernel the last batch is saved so it may delete it; no-op if none pends."""
        if self._ack_pending and self._connection is not None:
            self._connection.send(b"\n")
            self._ack_pending = False

    def read(self) -> tuple[list[ProcessOutput], list[ProcessOutput], list[ProcessOutput]] | None:
        """Acknowledge the previous batch, then block until the next one arrives.

        Returns:
            ``(out, err, closed)``, three lists of :class:`ProcessOutput`, or
            **None at the end of the stream**: once every watched process has
            closed and its last batch was acknowledged (the kernel then says
            "Nothing left to watch"), or if the watcher is closed. Loop with
            ``while watcher:`` or test for None; unpacking None fails.

        Raises:
            Error: the connection to the kernel was lost.
        """
        connection = self._connection
        if connection is None or self._finished:
            return None
        try:
            return self._read_batch(connection)
        except Error:
            if self._connection is not None:
                self._drop(connection)
            raise

    def _read_batch(self, connection: Connection) -> (
            tuple[list[ProcessOutput], list[ProcessOutput], list[ProcessOutput]] | None):
        self.acknowledge()
        self.handovers = []
        out: list[ProcessOutput] = []
        err: list[ProcessOutput] = []
        closed: list[ProcessOutput] = []
        while True:
            if connection.peek(len(_BATCH_END)) == _BATCH_END:
                connection.read_exactly(len(_BATCH_END))
                self._ack_pending = True
                return out, err, closed
            line = decode(connection.read_until(b"\n"))
            kind, sep, rest = line.partition(":")
            if kind in ("out", "err") and sep:
                name, timestamp, length = rest.rsplit(":", 2)
                data = connection.read_exactly(int(length))
                connection.read_exactly(1)  # the newline that ends the record
                (out if kind == "out" else err).append(
                    ProcessOutput(name, float(timestamp), data))
            elif kind == "closed" and sep:
                name, timestamp, code = rest.rsplit(":", 2)
                record = ProcessOutput(name, float(timestamp), int(code))
                closed.append(record)
                self.exit_code[name] = int(code)
                self._closed_names.add(name)
            elif kind == "fds" and sep:
                self.handovers.append(_handover(connection, rest))
            else:
                self._end_of_watch(line)
                return None

    def _end_of_watch(self, line: str) -> None:
        """Handle a command-mode line: the watch is over and the connection is free again."""
        connection = self._connection
        assert connection is not None
        connection.read_exactly(len(PROMPT) - 1)  # the "> " after the line's newline
        self._finished = True
        self._release(connection)
        check(line)
        if not line.startswith(_ENDINGS):
            raise Error(f"Unexpected line from papa while watching: {line!r}")

    def _release(self, connection: Connection) -> None:
        self._connection = None
        if self._owner is not None:
            self._owner._watcher_done(self, connection)
        else:
            connection.close()

    def close(self) -> None:
        """End the watch and give the connection back to the Papa object.

        If a batch awaits its acknowledgement, ``q`` acknowledges it and leaves
        watch mode, so the connection can be reused. Otherwise the connection is
        simply closed: sending ``q`` then could acknowledge a batch that is
        already on its way and was never seen, and the kernel keeps unacknowledged
        data for the next watcher anyway.
        """
        connection = self._connection
        if connection is None:
            return
        if self._finished:
            self._release(connection)
            return
        if not self._ack_pending or connection.buffer:
            self._drop(connection)
            return
        try:
            connection.send(b"q\n")
            self._ack_pending = False
            line = decode(connection.read_until(b"\n"))
            self._end_of_watch(line)
        except Error:
            if self._connection is not None:
                self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        """Close the connection without leaving watch mode; the kernel keeps unacked data."""
        self._connection = None
        connection.close()
        if self._owner is not None:
            self._owner._watcher_done(self, None)


def _handover(connection: Connection, rest: str) -> Handover:
    """The sockets an ``fds:`` record announces (``rest``: ``NAME:TS:KINDS``)."""
    name, timestamp, kinds = rest.rsplit(":", 2)
    wanted = kinds.split(",")
    fds = dict(zip(wanted, connection.take_fds(len(wanted)), strict=True))
    sockets = {kind: socket.socket(fileno=fd) for kind, fd in fds.items()}
    return Handover(name, float(timestamp), sockets.get("out"), sockets.get("err"))
