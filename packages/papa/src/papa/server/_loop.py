"""The kernel's single event loop.

One ``selectors`` loop serves the listening socket, every client connection,
every child pipe and every child exit, so output reaches a watcher as soon as
the child writes it, with no thread per client and no polling. Signals reach
the loop through ``signal.set_wakeup_fd``; their handlers do nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import socket
import threading
from typing import Any

from ._children import Children
from ._commands import Reply, execute
from ._conn import HIGH_WATER, Connection, TooLong
from ._kernel import Kernel
from ._processes import Process
from ._watch import NOTHING_LEFT, STOPPED

log = logging.getLogger("papa.server")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
RECV_SIZE = 64 * 1024


def _ignore_signal(signum: int, frame: object) -> None:
    """Installed so the signal is delivered to the wakeup pipe; nothing else."""


class Server:
    """Serves the papa protocol on an already listening socket until stopped."""

    def __init__(self, listener: socket.socket, control_path: str | None = None) -> None:
        self._listener = listener
        self._control_path = control_path
        self._control_inode = _inode(control_path) if control_path else None
        self._selector = selectors.DefaultSelector()
        self._connections: dict[int, Connection] = {}
        self._exit_pending = False
        self._stopping = False
        use_pidfd = hasattr(os, "pidfd_open") and not os.environ.get("PAPA_NO_PIDFD")
        self._children = Children(
            self._selector, self._on_output, self._on_exit, use_pidfd=use_pidfd
        )
        self.kernel = Kernel(self._children.add, self._children.forget)
        self._signals: dict[int, Any] = {}
        self._wakeup_r, self._wakeup_w = os.pipe()
        for fd in (self._wakeup_r, self._wakeup_w):
            os.set_blocking(fd, False)
        # A spare descriptor, given up to accept and drop a client when out of fds.
        self._spare_fd: int | None = os.open(os.devnull, os.O_RDONLY)
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, self._accept)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, self._on_wakeup)
        self._watched_signals = STOP_SIGNALS if use_pidfd else (*STOP_SIGNALS, signal.SIGCHLD)

    # lifecycle -----------------------------------------------------------

    def serve_forever(self) -> None:
        """Run until a stop signal, or until ``exit-if-idle`` takes effect."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
            for signum in self._watched_signals:
                self._signals[signum] = signal.signal(signum, _ignore_signal)
        try:
            while not self._stopping:
                for key, mask in self._selector.select():
                    try:
                        key.data(mask)
                    except Exception:
                        log.exception("event handler failed")
                        conn = self._connections.get(key.fd)
                        if conn is not None:
                            self._close(conn)
        finally:
            if in_main_thread:
                signal.set_wakeup_fd(-1)
                for number, previous in self._signals.items():
                    signal.signal(number, previous)
            self._shutdown()

    def stop(self) -> None:
        """Ask the loop to stop (safe from another thread)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wakeup_w, b"\0")

    def _shutdown(self) -> None:
        for conn in list(self._connections.values()):
            self._close(conn)
        self._children.close()
        self.kernel.close()
        self._selector.close()
        self._listener.close()
        if self._control_path and _inode(self._control_path) == self._control_inode:
            with contextlib.suppress(OSError):
                os.unlink(self._control_path)
        for fd in (self._wakeup_r, self._wakeup_w, self._spare_fd):
            if fd is not None:
                os.close(fd)

    def _on_wakeup(self, _mask: int) -> None:
        try:
            received = os.read(self._wakeup_r, 512)
        except BlockingIOError:
            return
        if signal.SIGCHLD in received:
            self._children.sigchld()
        if any(signum in received for signum in STOP_SIGNALS):
            log.info("stopping on signal")
            self._stopping = True

    # connections ---------------------------------------------------------

    def _accept(self, _mask: int) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._spare_fd is not None:
                    # Out of descriptors: accept with the spare one and hang up,
                    # rather than spin on a listener that stays readable.
                    os.close(self._spare_fd)
                    with contextlib.suppress(OSError):
                        self._listener.accept()[0].close()
                    self._spare_fd = os.open(os.devnull, os.O_RDONLY)
                    log.error("out of file descriptors, refused a client")
                    return
                log.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Without it Nagle holds a watch record back until the client
                # acks the previous small reply: 40 ms of delayed-ACK latency.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock)
            self._connections[conn.fileno()] = conn
            # A new client cancels a pending exit-if-idle.
            self._exit_pending = False
            self._selector.register(sock, selectors.EVENT_READ, lambda m, c=conn: self._io(c, m))
            conn.events = selectors.EVENT_READ
            self._flush(conn)

    def _io(self, conn: Connection, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and conn.fileno() in self._connections:
            self._read(conn)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        conn.inbuf += data
        while not conn.read_closed and (line := conn.take_line()) is not None:
            self._line(conn, line)
        if not data:
            rest = conn.take_rest()
            if rest is not None and not conn.read_closed:
                self._line(conn, rest)
            conn.read_closed = True
        self._flush(conn)

    def _line(self, conn: Connection, line: bytes | TooLong) -> None:
        if isinstance(line, TooLong):
            if conn.session is None:
                conn.queue(b"Error: line too long\n> ")
            else:
                self._watch_input(conn, "")
            return
        text = line.decode("utf-8", "surrogateescape").strip()
        if conn.session is not None:
            self._watch_input(conn, text)
            return
        if not text:
            conn.queue(b"> ")
            return
        self.kernel.connections = len(self._connections)
        self.kernel.watchers = sum(c.session is not None for c in self._connections.values())
        self._reply(conn, execute(self.kernel, text))
        # ``remove processes`` frees paused pipes: their output is discarded now.
        self._children.resume()
        # A command may have removed processes that other clients watch.
        for other in list(self._connections.values()):
            if other is not conn and other.session is not None:
                self._pump(other)
                self._flush(other)

    def _reply(self, conn: Connection, reply: Reply) -> None:
        text = reply.text
        if reply.action == "quit":
            conn.queue(b"ok\n")
            conn.read_closed = conn.closing = True
            return
        if reply.action == "watch":
            session = reply.session
            if session is not None and session.handover and conn.sock.family != socket.AF_UNIX:
                conn.queue(b"Error: handover=1 needs a unix socket connection\n> ")
                return
            conn.queue(_encode(text + "\n"))
            conn.session = session
            self._pump(conn)
            return
        conn.queue(_encode(text if text.endswith("\n") else text + "\n"), b"> ")
        if reply.action == "exit":
            conn.read_closed = conn.closing = True
            self._exit_pending = True

    def _flush(self, conn: Connection) -> None:
        if conn.fileno() not in self._connections:
            return
        try:
            conn.send_queued()
        except OSError:
            self._close(conn)
            return
        if not conn.out_size and (conn.closing or conn.read_closed):
            self._close(conn)
            return
        events = 0
        if not conn.read_closed and conn.out_size < HIGH_WATER:
            events |= selectors.EVENT_READ
        if conn.out_size:
            events |= selectors.EVENT_WRITE
        if events != conn.events:
            conn.events = events
            self._selector.modify(conn.sock, events, self._selector.get_key(conn.sock).data)

    def _close(self, conn: Connection) -> None:
        fd = conn.fileno()
        if self._connections.pop(fd, None) is None:
            return
        self._selector.unregister(conn.sock)
        conn.sock.close()
        self._take_back(conn)
        if self._exit_pending and not self._connections:
            if self.kernel.idle:
                log.info("exit-if-idle: last client gone, exiting")
                self._stopping = True
            self._exit_pending = False

    # watching ------------------------------------------------------------

    def _watch_input(self, conn: Connection, text: str) -> None:
        session = conn.session
        assert session is not None
        if text.startswith("+"):
            # Ours: add processes to the session; not an acknowledgement.
            live = {n for n, p in self.kernel.processes.items() if not p.removed}
            session.add([name for name in text[1:].split() if name in live])
            self._pump(conn)
            return
        for name, seq in session.take_ack().items():
            self.kernel.acknowledge(name, seq)
            if name not in self.kernel.processes:
                session.delegated.pop(name, None)
                self._pump_watchers(name, skip=conn)
        self._children.resume()
        if text.lower() == "q":
            self._take_back(conn)
            conn.session = None
            conn.queue(STOPPED)
            return
        self._pump(conn)

    def _take_back(self, conn: Connection) -> None:
        """The watcher of handed-over sockets is gone: papa reads them again."""
        session = conn.session
        if session is None:
            return
        delegated, session.delegated = session.delegated, {}
        for name, process in delegated.items():
            if self.kernel.processes.get(name) is process:
                self._children.take_back(process)
                self._pump_watchers(name, skip=conn)

    def _pump(self, conn: Connection) -> None:
        """Send the next batch, or end the watch when nothing is left."""
        session = conn.session
        if session is None:
            return
        batch = session.next_batch(self.kernel.processes, self._children.hand_over)
        if batch is not None:
            conn.queue(*batch)
        elif session.finished:
            conn.session = None
            conn.queue(NOTHING_LEFT)

    def _pump_watchers(self, name: str, skip: Connection | None = None) -> None:
        for conn in list(self._connections.values()):
            if conn is not skip and conn.session is not None and name in conn.session.sent:
                self._pump(conn)
                self._flush(conn)

    def _on_output(self, process: Process, kind: str, data: bytes) -> None:
        self.kernel.record_output(process, kind, data)
        self._pump_watchers(process.name)

    def _on_exit(self, process: Process, returncode: int) -> None:
        self.kernel.record_exit(process, returncode)
        self._pump_watchers(process.name)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _inode(path: str | None) -> tuple[int, int] | None:
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st else None
