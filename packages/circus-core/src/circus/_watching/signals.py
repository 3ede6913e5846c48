"""Routing POSIX signals to callbacks on the event loop, without losing any.

Why not ``loop.add_signal_handler``: asyncio learns *which* signal arrived
from the bytes its C-level handler writes to a socket. A burst of SIGCHLD
(thousands of children dying at once) fills that socket; the bytes of later
signals are dropped, a SIGTERM among them is lost for good, and Python prints
"Exception ignored when trying to write to the signal wakeup fd".

Here the Python-level handler (run by CPython in the main thread, from a
per-signal flag that cannot overflow) only enqueues a loop callback, as
signal handlers should. A pipe registered as the wakeup fd just wakes the
loop when the signal hit another thread; if it is full the loop is awake
anyway, so dropping those bytes costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

# What signal.getsignal returns: a handler, SIG_DFL/SIG_IGN, or None (set outside Python).
_Disposition = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class SignalRouter:
    """Calls ``callback`` on the loop whenever one of its signals arrives.

    Several arrivals of one signal before its callback runs are coalesced,
    as the kernel does for pending signals.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        self._loop = loop
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._previous: dict[int, _Disposition] = {}
        self._pending: set[int] = set()
        self._wakeup: tuple[int, int] | None = None
        self._previous_wakeup = -1

    def __repr__(self) -> str:
        names = ", ".join(signal.Signals(s).name for s in self._callbacks)
        return f"<SignalRouter {names or 'idle'}>"

    def add(self, signum: int, callback: Callable[[], None]) -> None:
        """Route ``signum`` to ``callback`` (replacing an earlier route)."""
        if self._wakeup is None:
            self._open_wakeup()
        if signum not in self._previous:
            self._previous[signum] = signal.getsignal(signum)
        self._callbacks[signum] = callback
        signal.signal(signum, self._handle)
        # circusd blocks its stop signals until they are routed; one that
        # arrived meanwhile is delivered now, to this route.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})

    def remove(self, signum: int) -> None:
        """Stop routing ``signum``; its previous disposition comes back."""
        self._callbacks.pop(signum, None)
        previous = self._previous.pop(signum, None)
        if previous is not None:
            signal.signal(signum, previous)

    def close(self) -> None:
        """Restore every previous disposition and the previous wakeup fd."""
        for signum in list(self._previous):
            self.remove(signum)
        if self._wakeup is not None:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._previous_wakeup)
            read_fd, write_fd = self._wakeup
            self._loop.remove_reader(read_fd)
            os.close(read_fd)
            os.close(write_fd)
            self._wakeup = None

    def _open_wakeup(self) -> None:
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._loop.add_reader(read_fd, _drain, read_fd)
        self._wakeup = (read_fd, write_fd)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Signal context: enqueue only (no logging, no locks).
        if signum in self._pending:
            return
        if self._loop.is_closed():
            return
        self._pending.add(signum)
        self._loop.call_soon_threadsafe(self._dispatch, signum)

    def _dispatch(self, signum: int) -> None:
        self._pending.discard(signum)
        callback = self._callbacks.get(signum)
        if callback is not None:
            callback()


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while os.read(fd, 4096):
            pass
