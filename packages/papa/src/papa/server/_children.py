"""Reading child pipes and noticing child exits, on the kernel's one loop.

Exits are seen through a pidfd per child (Linux 5.3+): it becomes readable
when the child exits, so no signal handler or polling is involved. Where
pidfds are missing, the loop falls back to SIGCHLD delivered through its
wakeup pipe, followed by a non-blocking wait on every running child.

When a child exits, whatever its pipes still hold is read at once and the
exit record follows. The pipes are then closed: output written later by
grandchildren that inherited them is not captured, but the exit is reported
promptly instead of waiting for every holder of the pipe to finish.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from collections.abc import Callable
from typing import IO

from ._processes import Process

READ_SIZE = 64 * 1024
# Bounds the final drain so a grandchild that keeps writing cannot stall us.
MAX_DRAIN_READS = 1024


class ChildIO:
    """The pipes and pidfd of one running child."""

    def __init__(self, process: Process, pidfd: int | None) -> None:
        self.process = process
        self.pidfd = pidfd
        self.pipes: dict[int, tuple[str, IO[bytes]]] = {}


class Children:
    """Registers children on the selector and reports output and exits."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        on_output: Callable[[Process, str, bytes], None],
        on_exit: Callable[[Process, int], None],
        *,
        use_pidfd: bool,
    ) -> None:
        self._selector = selector
        self._on_output = on_output
        self._on_exit = on_exit
        self._use_pidfd = use_pidfd
        self._running: dict[int, ChildIO] = {}

    def add(self, process: Process) -> None:
        """Start watching a freshly spawned process."""
        pidfd = os.pidfd_open(process.pid) if self._use_pidfd else None
        child = ChildIO(process, pidfd)
        self._running[process.pid] = child
        streams = (("out", process.popen.stdout), ("err", process.popen.stderr))
        for kind, stream in streams:
            if stream is not None:
                os.set_blocking(stream.fileno(), False)
                child.pipes[stream.fileno()] = (kind, stream)
                self._selector.register(
                    stream, selectors.EVENT_READ, lambda _mask, c=child, s=stream: self._read(c, s)
                )
        if pidfd is not None:
            self._selector.register(
                pidfd, selectors.EVENT_READ, lambda _mask, c=child: self._check_exit(c)
            )
        else:
            # The child may have exited before we were ready to hear SIGCHLD.
            self._check_exit(child)

    def _read(self, child: ChildIO, stream: IO[bytes]) -> bool:
        """Read one chunk; returns False once the pipe has nothing more now."""
        fd = stream.fileno()
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._close_pipe(child, fd)
            return False
        self._on_output(child.process, child.pipes[fd][0], data)
        return True

    def _close_pipe(self, child: ChildIO, fd: int) -> None:
        _, stream = child.pipes.pop(fd)
        self._selector.unregister(stream)
        stream.close()

    def _check_exit(self, child: ChildIO) -> None:
        returncode = child.process.popen.poll()
        if returncode is None:
            return
        for fd, (_, stream) in list(child.pipes.items()):
            reads = 0
            while fd in child.pipes and reads < MAX_DRAIN_READS and self._read(child, stream):
                reads += 1
            if fd in child.pipes:
                self._close_pipe(child, fd)
        if child.pidfd is not None:
            self._selector.unregister(child.pidfd)
            os.close(child.pidfd)
        del self._running[child.process.pid]
        self._on_exit(child.process, returncode)

    def sigchld(self) -> None:
        """Fallback path: check every running child after a SIGCHLD."""
        for child in list(self._running.values()):
            if child.pidfd is None:
                self._check_exit(child)

    def close(self) -> None:
        """Stop listening to every child; the children themselves run on."""
        for child in self._running.values():
            for fd in list(child.pipes):
                self._close_pipe(child, fd)
            if child.pidfd is not None:
                self._selector.unregister(child.pidfd)
                with contextlib.suppress(OSError):
                    os.close(child.pidfd)
        self._running.clear()
