"""PipeReader: move a child's stdout/stderr pipe into a stream, line-aligned."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable

from ._base import StreamMessage, StreamName

logger = logging.getLogger("circus")

_READ_SIZE = 256 * 1024
# Bytes taken from one pipe per wakeup, so one chatty process cannot starve
# the other pipes (and the rest of the daemon) sharing the loop.
_MAX_PER_WAKEUP = 1024 * 1024
# A line longer than this is passed on in pieces rather than held in memory.
_MAX_TAIL = 1024 * 1024
# Bytes a close() reads at most, in case the writer is still producing.
_MAX_ON_CLOSE = 16 * 1024 * 1024
# A bigger pipe lets children write bursts without blocking while the loop is busy.
_PIPE_SIZE = 1024 * 1024
# Linux charges pipe capacity to the user (fs/pipe-user-pages-soft, 64 MiB by
# default): past it every new pipe shrinks to two pages. Enlarged pipes share
# this budget so that a thousand processes do not starve each other's pipes.
_ENLARGE_BUDGET = 32 * 1024 * 1024
_enlarged_total = 0
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux-only constant
# Sink failures are logged at most this often (seconds) per reader: a full disk
# must not turn every read into a traceback.
_ERROR_LOG_INTERVAL = 10.0

#: What a reader feeds: a :class:`~circus.stream.Stream` or any such callable.
Sink = Callable[[StreamMessage], None]


def _stream_name(name: str) -> StreamName:
    """Check the pipe name a reader stamps on its messages."""
    if name == "stdout":
        return "stdout"
    if name == "stderr":
        return "stderr"
    raise ValueError(f"name: expected 'stdout' or 'stderr', got {name!r}")


class PipeReader:
    """Read one pipe on the event loop and feed its output to ``sink``.

    ``name`` is ``"stdout"`` or ``"stderr"``. ``sink`` receives the
    :class:`StreamMessage` ``{"pid": pid, "name": name, "data": bytes}`` and only
    ever whole lines (data ending in ``b"\\n"``): a partial last line is kept
    until the rest arrives. Exceptions: the tail is handed over as it is at
    EOF or :meth:`close` (the last words of a crashed process are kept even
    without a newline) and when it grows beyond 1 MiB.

    Reading is driven by ``loop.add_reader`` only; no threads, no polling. On
    EOF the reader flushes, closes the descriptor, calls ``on_closed(self)``
    and resolves :meth:`wait_closed`.
    """

    def __init__(
        self,
        fd: int,
        *,
        pid: int,
        name: str,
        sink: Sink,
        loop: asyncio.AbstractEventLoop,
        on_closed: Callable[[PipeReader], None] | None = None,
    ) -> None:
        self.fd = fd
        self.pid = pid
        self.name: StreamName = _stream_name(name)
        self.closed = False
        self._sink = sink
        self._loop = loop
        self._on_closed = on_closed
        self._tail = bytearray()
        self._enlarged = False  # counts against the shared enlargement budget
        self._reading = False
        self._done: asyncio.Future[bool] = loop.create_future()
        self._errors = 0
        self._next_error_log = 0.0

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<PipeReader {self.name} pid={self.pid} fd={self.fd} {state}>"

    def start(self) -> None:
        """Make the pipe non-blocking, enlarge it and start reading on the loop."""
        if self.closed:
            raise RuntimeError("PipeReader is closed")
        if self._reading:
            return
        os.set_blocking(self.fd, False)
        self._enlarge()
        self._loop.add_reader(self.fd, self._on_readable)
        self._reading = True

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until EOF was reached and everything handed to the sink.

        Returns False if ``timeout`` seconds passed first.
        """
        if self._done.done():
            return True
        try:
            # shield: a timeout must not cancel the future other waiters share.
            await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Stop now: read what is available, flush it all, close the pipe."""
        if self.closed:
            return
        if not self._reading:
            os.set_blocking(self.fd, False)
        budget = _MAX_ON_CLOSE
        while budget > 0 and not self.closed:
            chunk = self._read()
            if not chunk:
                break
            budget -= len(chunk)
            self._feed(chunk)
        self._finish()

    # -- internals -----------------------------------------------------------------------------

    def _enlarge(self) -> None:
        global _enlarged_total
        if _enlarged_total + _PIPE_SIZE > _ENLARGE_BUDGET:
            return
        # EPERM past the user's pipe budget or pipe-max-size, EINVAL if not a
        # pipe: the default size works, only less smoothly.
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.fd, _F_SETPIPE_SZ, _PIPE_SIZE)
            self._enlarged = True
            _enlarged_total += _PIPE_SIZE

    def _read(self) -> bytes | None:
        """Read one chunk: bytes, b"" at EOF, None when nothing is available now."""
        try:
            return os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            # EIO and friends: nothing more will come from this pipe.
            logger.warning("reading %s of pid %s failed: %s", self.name, self.pid, exc)
            return b""

    def _on_readable(self) -> None:
        budget = _MAX_PER_WAKEUP
        while budget > 0:
            chunk = self._read()
            if chunk is None:
                return
            if not chunk:
                self._finish()
                return
            self._feed(chunk)
            if self.closed or len(chunk) < _READ_SIZE:
                # A short read means the pipe is most likely empty: spare the
                # EAGAIN round trip, the loop calls again if more arrived.
                return
            budget -= len(chunk)

    def _feed(self, chunk: bytes) -> None:
        """Pass the complete lines of ``chunk`` on, keep its unfinished last line."""
        tail = self._tail
        end = chunk.rfind(b"\n") + 1
        if end == 0:
            tail += chunk
            if len(tail) > _MAX_TAIL:
                self._flush_tail()
            return
        if tail:
            tail += memoryview(chunk)[:end]
            data = bytes(tail)
            tail.clear()
        elif end == len(chunk):
            data = chunk  # the common case: whole lines, passed on without a copy
        else:
            data = chunk[:end]
        if end < len(chunk):
            tail += memoryview(chunk)[end:]
        self._emit(data)

    def _flush_tail(self) -> None:
        if self._tail:
            data = bytes(self._tail)
            self._tail.clear()
            self._emit(data)

    def _emit(self, data: bytes) -> None:
        try:
            self._sink({"pid": self.pid, "name": self.name, "data": data})
        except Exception:
            self._errors += 1
            now = time.monotonic()
            if now >= self._next_error_log:
                self._next_error_log = now + _ERROR_LOG_INTERVAL
                logger.exception(
                    "stream failed on %s of pid %s (%d failure(s) so far, %d bytes lost)",
                    self.name,
                    self.pid,
                    self._errors,
                    len(data),
                )

    def _finish(self) -> None:
        """EOF or close(): flush the tail, release the pipe, tell the waiters."""
        if self.closed:
            return
        self.closed = True
        self._flush_tail()
        if self._reading and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        self._reading = False
        if self._enlarged:
            global _enlarged_total
            _enlarged_total -= _PIPE_SIZE
            self._enlarged = False
        os.close(self.fd)
        if not self._done.done() and not self._loop.is_closed():
            self._done.set_result(True)
        if self._on_closed is not None:
            try:
                self._on_closed(self)
            except Exception:
                logger.exception("on_closed callback of %r failed", self)
