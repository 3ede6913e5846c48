"""A file descriptor that becomes readable when a signal arrives, for blocking waits.

Python runs a signal's handler in the main thread between bytecodes. A
blocking ZeroMQ receive is only cut short when the signal interrupts its
system call, which it does not when the signal lands just before the call
starts, or is taken by another thread: Ctrl-C would then wait for the next
message, which may never come. Waiting on this descriptor as well closes that
gap, because the interpreter writes to it whenever any signal arrives.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def signal_wakeup() -> Iterator[int | None]:
    """Yield a descriptor that turns readable on any signal; None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield None  # only the main thread may set the wakeup fd, and take signals
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        yield reader.fileno()
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
