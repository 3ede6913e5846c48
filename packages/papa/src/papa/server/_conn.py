"""One client connection: buffered input split into lines, buffered output."""

from __future__ import annotations

import array
import enum
import socket
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._watch import WatchSession

# Longer lines are refused with an error and skipped up to the next newline.
# Generous because ``make process`` may carry a whole environment as env.*.
MAX_LINE = 256 * 1024
# Stop reading commands from a client that does not read its replies.
HIGH_WATER = 4 * 1024 * 1024
BANNER = b'Papa is home. Type "help" for commands.\n> '
# Pieces handed to one sendmsg(): IOV_MAX, 1024 on Linux and the BSDs.
MAX_PIECES = 1024


class FdPiece(bytes):
    """Bytes to send with descriptors attached (SCM_RIGHTS, with their first byte)."""

    fds: list[int]

    def __new__(cls, data: bytes, fds: list[int]) -> FdPiece:
        piece = super().__new__(cls, data)
        piece.fds = fds
        return piece


class TooLong(enum.Enum):
    """Marks a line that exceeded ``MAX_LINE`` and was dropped."""

    LINE = "line too long"


class Connection:
    """Buffers and protocol mode of one connected client."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        # Pending output as the pieces it was queued in (replies, record
        # headers, captured chunks): written with gathered sends, never joined.
        self._out: deque[bytes | memoryview] = deque([BANNER])
        self.out_size = len(BANNER)
        # The selector events currently registered, to skip needless updates.
        self.events = 0
        self.session: WatchSession | None = None
        # Skipping the rest of an over-long line.
        self.discarding = False
        # No more input will be read (client sent EOF, quit or exit-if-idle).
        self.read_closed = False
        # Set when the connection must close once its output is flushed.
        self.closing = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def queue(self, *pieces: bytes) -> None:
        """Queue bytes to send, after everything already queued."""
        for piece in pieces:
            if piece:
                self._out.append(piece)
                self.out_size += len(piece)

    def send_queued(self) -> None:
        """Send as much queued output as the socket takes now.

        Raises:
            OSError: the socket failed (BlockingIOError never escapes).
        """
        out = self._out
        while out:
            head = out[0]
            try:
                if isinstance(head, FdPiece):
                    # Alone, so the descriptors go with this piece's first byte.
                    fds = array.array("i", head.fds)
                    sent = self.sock.sendmsg([head], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                elif len(out) == 1:
                    sent = self.sock.send(head)
                else:
                    sent = self.sock.sendmsg(_plain(out))
            except BlockingIOError:
                return
            self.out_size -= sent
            while sent:
                head = out[0]
                if sent >= len(head):
                    sent -= len(head)
                    out.popleft()
                else:
                    out[0] = memoryview(head)[sent:]
                    return  # a short send: the socket buffer is full

    def take_line(self) -> bytes | TooLong | None:
        """Pop the next complete line.

        Returns:
            The line without its newline, ``TooLong.LINE`` for a line over
            ``MAX_LINE`` (the caller answers with an error), or None when no
            complete line is buffered.
        """
        while True:
            index = self.inbuf.find(b"\n")
            if index < 0:
                if len(self.inbuf) > MAX_LINE:
                    self.inbuf.clear()
                    if not self.discarding:
                        self.discarding = True
                        return TooLong.LINE
                return None
            line = bytes(self.inbuf[:index])
            del self.inbuf[: index + 1]
            if self.discarding:
                self.discarding = False
                continue
            if len(line) > MAX_LINE:
                return TooLong.LINE
            return line

    def take_rest(self) -> bytes | None:
        """At end of input, pop an unterminated last line, if any."""
        rest, discarding = bytes(self.inbuf), self.discarding
        self.inbuf.clear()
        self.discarding = False
        return rest if rest and not discarding else None


def _plain(out: deque[bytes | memoryview]) -> list[bytes | memoryview]:
    """The queued pieces up to (not including) the next one that carries descriptors."""
    pieces: list[bytes | memoryview] = []
    for piece in islice(out, MAX_PIECES):
        if isinstance(piece, FdPiece):
            break
        pieces.append(piece)
    return pieces
