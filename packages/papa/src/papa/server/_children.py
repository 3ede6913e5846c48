"""Reading child pipes and noticing child exits, on the kernel's one loop.

Exits are seen through a pidfd per child (Linux 5.3+): it becomes readable
when the child exits, so no signal handler or polling is involved. Where
pidfds are missing, the loop falls back to SIGCHLD delivered through its
wakeup pipe, followed by a non-blocking wait on every running child.

When a child exits, whatever its pipes still hold is read at once and the
exit record follows. The pipes are then closed: output written later by
grandchildren that inherited them is not captured, but the exit is reported
promptly instead of waiting for every holder of the pipe to finish.

Backpressure (``make process ... backpressure=1``): while a process's
unacknowledged output fills its buffer, its pipes are taken off the selector,
so the child blocks on a full pipe as it would with a direct pipe; they go
back on once an acknowledgement (or ``remove processes``) makes room. Only the
final drain at exit reads past the limit, at most what the pipes still hold.

Handover (``watch processes handover=1``): a watcher reads the output
sockets of a ``handover=1`` process itself. Papa keeps its copies but stops
reading them; the watcher consumes only what it has written (it peeks
first), so when its connection drops, papa takes reading back from exactly
where it stopped. A handed-over process that exits keeps its sockets until
its exit is acknowledged (the watcher drains them first) or taken back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import termios
from collections.abc import Callable
from typing import IO

from ._processes import Process

# A pipe holds 64 KiB by default on Linux: one read takes all of it.
READ_SIZE = 64 * 1024
# A pipe found full is enlarged to BIG_PIPE, so a fast writer hands over its
# output in fewer, larger pieces: fewer wakeups and reads for both sides (the
# kernel's CPU per MiB drops by about a third). At most BIG_PIPES at a time:
# enlarged pipes count against the user's pipe-user-pages-soft quota (64 MiB
# by default), past which every new pipe of that user would be made tiny.
BIG_PIPE = 1 << 20
BIG_PIPES = 16
SETPIPE_SZ: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)
# Bounds the final drain so a grandchild that keeps writing cannot stall us.
MAX_DRAIN_READS = 1024


class ChildIO:
    """The pipes and pidfd of one running child."""

    def __init__(self, process: Process, pidfd: int | None) -> None:
        self.process = process
        self.pidfd = pidfd
        self.pipes: dict[int, tuple[str, IO[bytes]]] = {}
        # Descriptors of the pipes enlarged to BIG_PIPE.
        self.big: set[int] = set()
        # Pipes off the selector because the output buffer is full.
        self.paused = False
        # Pipes off the selector because a watcher reads them (handover).
        self.delegated = False


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
        self._paused: dict[int, ChildIO] = {}
        # Exited while handed over: the sockets wait for the watcher's drain.
        self._held: dict[int, ChildIO] = {}
        self._big_pipes = 0

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
                self._listen(child, stream)
        if pidfd is not None:
            self._selector.register(
                pidfd, selectors.EVENT_READ, lambda _mask, c=child: self._check_exit(c)
            )
        else:
            # The child may have exited before we were ready to hear SIGCHLD.
            self._check_exit(child)

    def _listen(self, child: ChildIO, stream: IO[bytes]) -> None:
        self._selector.register(
            stream, selectors.EVENT_READ, lambda _mask, c=child, s=stream: self._on_readable(c, s)
        )

    def hand_over(self, process: Process) -> list[tuple[str, int]]:
        """Stop reading ``process``'s output sockets; return (kind, fd) of each, for the watcher.

        Empty when there is nothing to hand over (not ``handover=1``, already
        handed over, exited, or no stream captured).
        """
        child = self._running.get(process.pid)
        if child is None or child.process is not process or child.delegated:
            return []
        if not process.spec.handover or not child.pipes:
            return []
        if not child.paused:
            for _, pipe in child.pipes.values():
                self._selector.unregister(pipe)
        child.paused = False
        self._paused.pop(process.pid, None)
        child.delegated = True
        return [(kind, fd) for fd, (kind, _) in child.pipes.items()]

    def take_back(self, process: Process) -> None:
        """The watcher is gone: read ``process``'s output again where it stopped.

        For a process that exited meanwhile, what its sockets still hold is
        read now and its exit record is numbered after that output.
        """
        held = self._held.pop(process.pid, None)
        if held is not None and held.process is process:
            self._drain(held)
            process.output.reclose()
            return
        child = self._running.get(process.pid)
        if child is None or child.process is not process or not child.delegated:
            return
        child.delegated = False
        for _, pipe in child.pipes.values():
            self._listen(child, pipe)

    def forget(self, process: Process) -> None:
        """Papa is done with ``process`` (exit acknowledged or removed): close held sockets."""
        held = self._held.get(process.pid)
        if held is not None and held.process is process:
            del self._held[process.pid]
            for fd in list(held.pipes):
                self._close_pipe(held, fd)

    def _on_readable(self, child: ChildIO, stream: IO[bytes]) -> None:
        if stream.closed or child.delegated:
            # Stale: an earlier event of the same select() round closed the
            # pipe (the exit's drain), or handed it to a watcher (an ack that
            # let the next batch carry the sockets). Reading it now would send
            # a chunk as a record after the handover, while the watcher already
            # reads what follows it from the socket: out of order.
            return
        process = child.process
        if not self._read(child, stream) or child.paused or process.removed:
            return
        if process.spec.backpressure and process.output.full:
            child.paused = True
            self._paused[process.pid] = child
            for _, pipe in child.pipes.values():
                self._selector.unregister(pipe)

    def resume(self) -> None:
        """Read again from paused processes whose buffer has room (or that were removed)."""
        for pid, child in list(self._paused.items()):
            if child.delegated:
                continue
            if child.process.removed or not child.process.output.full:
                del self._paused[pid]
                child.paused = False
                for _, pipe in child.pipes.values():
                    self._listen(child, pipe)

    def _read(self, child: ChildIO, stream: IO[bytes]) -> bool:
        """Read one chunk; returns False once the pipe has nothing more now."""
        fd = stream.fileno()
        try:
            data = os.read(fd, _available(fd) if fd in child.big else READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._close_pipe(child, fd)
            return False
        if len(data) == READ_SIZE and fd not in child.big:
            self._enlarge(child, fd)
        self._on_output(child.process, child.pipes[fd][0], data)
        return True

    def _enlarge(self, child: ChildIO, fd: int) -> None:
        if SETPIPE_SZ is None or self._big_pipes >= BIG_PIPES:
            return
        try:
            fcntl.fcntl(fd, SETPIPE_SZ, BIG_PIPE)
        except OSError:
            return  # over the quota, or not a pipe: it keeps its size
        child.big.add(fd)
        self._big_pipes += 1

    def _close_pipe(self, child: ChildIO, fd: int) -> None:
        _, stream = child.pipes.pop(fd)
        if fd in child.big:
            child.big.discard(fd)
            self._big_pipes -= 1
        if not (child.paused or child.delegated):
            self._selector.unregister(stream)
        stream.close()

    def _check_exit(self, child: ChildIO) -> None:
        returncode = child.process.popen.poll()
        if returncode is None:
            return
        if child.delegated and child.pipes and not child.process.removed:
            # The watcher reads to the end; papa keeps its copies meanwhile.
            self._held[child.process.pid] = child
        else:
            # A removed process's output is discarded: a watcher may still read it.
            self._drain(child, read=not child.delegated)
        if child.pidfd is not None:
            self._selector.unregister(child.pidfd)
            os.close(child.pidfd)
        del self._running[child.process.pid]
        self._paused.pop(child.process.pid, None)
        self._on_exit(child.process, returncode)

    def _drain(self, child: ChildIO, *, read: bool = True) -> None:
        """Read what the pipes of an exited child still hold (bounded), then close them."""
        for fd, (_, stream) in list(child.pipes.items()):
            reads = 0
            while (read and fd in child.pipes and reads < MAX_DRAIN_READS
                   and self._read(child, stream)):
                reads += 1
            if fd in child.pipes:
                self._close_pipe(child, fd)

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
        for child in self._held.values():
            for fd in list(child.pipes):
                self._close_pipe(child, fd)
        self._running.clear()
        self._paused.clear()
        self._held.clear()


def _available(fd: int) -> int:
    """Bytes waiting in a pipe, so a read allocates no more than it gets."""
    try:
        waiting = int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")
    except OSError:
        waiting = 0
    # 0: nothing yet, or the end of the stream; a plain read tells which.
    return waiting or READ_SIZE
