"""Reading an output socket papa handed over: peek, write, and only then consume.

With ``handover``, papa gives circusd the reading end of a process's output
(a unix stream socket), so circusd reads it directly, as it reads the pipe of
a plain process, instead of papa relaying every byte. Papa keeps its own copy
and reads on from the first byte circusd did not consume once circusd's watch
connection drops. So a byte is consumed only after it is written to the
stream: it is peeked (``MSG_PEEK``), the whole lines are written, and then
exactly those bytes are received. A circusd killed at any moment leaves the
unwritten bytes, its unfinished last line included, to papa.

An unfinished last line stays in the socket until its newline arrives. The
socket stays readable meanwhile, so the reader leaves the loop and looks
again after a short, growing delay (1 ms, doubling), only while such a line
waits; the writer hanging up (``POLLRDHUP``) flushes it. A line that has not
grown for about 60 ms is taken into memory instead, as a plain pipe reader
keeps it: the writer may be blocked on a full socket (a long line, or many
tiny writes), and waiting longer would deadlock. Such a line start goes back
to papa's values on a clean restart (:meth:`HandedReader.stop`); only a
SIGKILL of circusd while a line stalls half-written loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable

logger = logging.getLogger("circus")

# Bytes looked at per peek; a line longer than this is written in pieces.
PEEK_SIZE = 1 << 20
# Bytes looked at first: the whole lines among them are written at once. A
# chunk this size stays in the CPU cache between peek, write and consume, and
# its copy comes from malloc's heap rather than fresh pages (twice the speed
# of 1 MiB chunks in bench/ papa-output). Only a chunk without a newline makes
# the reader look at up to PEEK_SIZE for the end of its line.
_CHUNK = 256 * 1024
# Bytes taken from one socket per wakeup, so one writer cannot starve the loop.
_MAX_PER_WAKEUP = 4 << 20
_FIRST_RETRY = 0.001
_MAX_RETRY = 0.064  # looks after 1, 2, 4 ... 32 ms: ~60 ms before a stalled line is taken in
_HUNG_UP = select.POLLHUP | getattr(select, "POLLRDHUP", 0)
# One buffer for every reader (they all run on the loop's thread): bytes are
# peeked into it, and consumed ones discarded into it. What goes to the sink is
# copied out first, so no reader sees another's bytes.
_BUFFER = bytearray(PEEK_SIZE)
_VIEW = memoryview(_BUFFER)

#: Gets whole lines and the time of their first byte (None: now).
Sink = Callable[[bytes, "float | None"], None]


class HandedReader:
    """Feeds ``sink`` the output of one handed-over socket, on the loop.

    Args:
        sock: the socket papa handed over (non-blocking, as papa set it).
        sink: called with whole lines (and at the end, or for a line over
            ``PEEK_SIZE``, what there is).
        prefix: the start of a line whose rest is in the socket (it came in
            papa's records before the handover), with its timestamp.
    """

    def __init__(self, sock: socket.socket, sink: Sink, loop: asyncio.AbstractEventLoop,
                 prefix: tuple[bytes, float] | None = None) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._sink = sink
        self._loop = loop
        self._prefix = prefix
        self._retry = _FIRST_RETRY
        # Size of the unfinished line seen at the last look (0: none waits).
        self._waiting = 0
        self._timer: asyncio.TimerHandle | None = None
        self._reading = False
        self.closed = False
        self._done: asyncio.Future[None] = loop.create_future()

    def start(self) -> None:
        """Start reading on the loop."""
        if not self.closed and not self._reading:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    async def wait_closed(self, timeout: float) -> bool:
        """Wait for the end of the output (EOF); False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def finish(self) -> None:
        """Write and consume all the socket holds now (an unfinished line too), then close."""
        if self.closed:
            return
        while not self.closed:
            size = self._peek(PEEK_SIZE)
            if not size:
                break
            self._write(bytes(_VIEW[:size]))
            self._consume(size)
        self._close()

    def stop(self) -> tuple[bytes, float] | None:
        """Stop without consuming more (papa reads on from here); close our copy.

        Returns:
            The line start that came before the handover and was not written
            yet (it is no longer in papa), with its timestamp, or None.
        """
        prefix, self._prefix = self._prefix, None
        self._close()
        return prefix

    # -- internals ---------------------------------------------------------------------------

    def _on_readable(self) -> None:
        budget = _MAX_PER_WAKEUP
        while budget > 0 and not self.closed:
            size = self._peek(_CHUNK)
            if size is None:
                return
            if not size:
                self.finish()  # EOF
                return
            end = _BUFFER.rfind(b"\n", 0, size) + 1
            if end == 0 and size == _CHUNK:
                size = self._peek(PEEK_SIZE) or size  # a long line: look for its end
                end = _BUFFER.rfind(b"\n", 0, size) + 1
            if end == 0 and size < PEEK_SIZE and not self._hung_up():
                if size != self._waiting:
                    # New: stay on the loop, which calls again at once; a fast
                    # writer has usually written more by then (the timers below
                    # would stall it for a millisecond every socketful).
                    self._waiting, self._retry = size, _FIRST_RETRY
                    return
                if self._retry < _MAX_RETRY:
                    self._wait_for_rest()
                    return
                self._take_in(size)  # stalled: maybe a writer blocked on a full socket
                continue
            self._waiting, self._retry = 0, _FIRST_RETRY
            end = end or size
            self._write(bytes(_VIEW[:end]))
            self._consume(end)
            budget -= end

    def _peek(self, size: int) -> int | None:
        """Copy up to ``size`` bytes the socket holds into ``_BUFFER``, leaving them there.

        Returns:
            How many were copied: 0 at EOF, None when nothing is there now.
        """
        try:
            return self._sock.recv_into(_VIEW, size, socket.MSG_PEEK)
        except BlockingIOError:
            return None
        except OSError as exc:
            logger.warning("reading a papa output socket failed: %s", exc)
            return 0

    def _consume(self, size: int) -> None:
        while size > 0:
            try:
                got = self._sock.recv_into(_VIEW, min(size, PEEK_SIZE))
            except BlockingIOError:  # cannot happen: the bytes were peeked
                return
            if not got:
                return
            size -= got

    def _write(self, data: bytes) -> None:
        stamp: float | None = None
        if self._prefix is not None:
            (start, stamp), self._prefix = self._prefix, None
            data = start + data
        self._sink(data, stamp)

    def _take_in(self, size: int) -> None:
        """Consume a stalled unfinished line (``size`` bytes peeked) into memory.

        It becomes the prefix of the next write.
        """
        data = bytes(_VIEW[:size])
        self._consume(size)
        self._waiting, self._retry = 0, _FIRST_RETRY
        start, stamp = self._prefix or (b"", time.time())
        self._prefix = (start + data, stamp)
        if len(self._prefix[0]) >= PEEK_SIZE:
            self._write(b"")

    def _hung_up(self) -> bool:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | _HUNG_UP)
        return any(events & _HUNG_UP for _, events in poller.poll(0))

    def _wait_for_rest(self) -> None:
        """An unfinished line waits: look again later rather than spin on a readable socket."""
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        self._timer = self._loop.call_later(self._retry, self._look_again)
        self._retry = min(self._retry * 2, _MAX_RETRY)

    def _look_again(self) -> None:
        self._timer = None
        self.start()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._reading and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._reading = False
        if self._prefix is not None:
            start, stamp = self._prefix
            self._prefix = None
            self._sink(start, stamp)
        with contextlib.suppress(OSError):
            self._sock.close()
        if not self._done.done():
            self._done.set_result(None)


def now_or(stamp: float | None) -> float:
    """A sink's timestamp: the given one, or now."""
    return time.time() if stamp is None else stamp
