"""Counting "hits" on circusd's listening sockets, event-driven.

Upstream ``select()``-ed every inherited socket every 10 ms, which costs CPU
even when idle. Here the listening fds sit in one edge-triggered epoll whose
own fd is a reader on the asyncio loop: the kernel wakes us once per burst of
new connections, and a connection waiting in the backlog for a worker does
not wake us again (level-triggered polling would spin). We never accept.

A hit is therefore a burst of readiness, not a connection count, as upstream's
sample count was. Each fd is checked to really be the socket ``listsockets``
names (same address, listening), because the fd numbers only mean something
when circusd started us with ``use_sockets = True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import select
import socket
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("circus.stats")


@dataclass(frozen=True)
class ListenSocket:
    """One entry of circusd's ``listsockets`` reply."""

    fd: int
    name: str
    address: str  # "host:port" or the unix path
    host: str | None
    port: int | None
    path: str | None

    @classmethod
    def from_reply(cls, entry: Mapping[str, object]) -> ListenSocket | None:
        """Parse one reply entry; ``None`` if it lacks a usable fd."""
        fd, name = entry.get("fd"), entry.get("name")
        if not isinstance(fd, int) or isinstance(fd, bool) or not isinstance(name, str):
            return None
        if not 0 <= fd < 2**31:  # socket(fileno=) refuses it with ValueError/OverflowError
            return None
        path = entry.get("path")
        if isinstance(path, str):
            return cls(fd, name, path, None, None, path)
        host, port = entry.get("host"), entry.get("port")
        if not isinstance(host, str) or not isinstance(port, int):
            return None
        return cls(fd, name, f"{host}:{port}", host, port, None)


_Address = str | bytes | tuple[str, int] | tuple[str, int, int, int]


def _bound_address(fd: int) -> _Address:
    """``getsockname()`` of a listening socket at ``fd``; raises ``OSError`` otherwise.

    A path (``bytes`` in the abstract namespace), or an IPv4 or IPv6 address.
    """
    sock = socket.socket(fileno=fd)
    try:
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise OSError("it is not a listening socket")
        address: _Address = sock.getsockname()
        return address
    finally:
        sock.detach()  # the fd is circusd's (inherited), never ours to close


def mismatch(entry: ListenSocket) -> str | None:
    """Why ``entry.fd`` is not the socket circusd describes, or ``None`` if it is."""
    try:
        bound = _bound_address(entry.fd)
    except OSError as exc:
        return f"fd {entry.fd} is not usable here ({exc.strerror or exc})"
    if entry.path is not None:
        if bound != entry.path:
            return f"fd {entry.fd} is bound to {bound!r}, not {entry.path}"
        return None
    if not isinstance(bound, tuple) or bound[1] != entry.port:
        return f"fd {entry.fd} is bound to {bound!r}, not port {entry.port}"
    try:
        wanted = ipaddress.ip_address(entry.host or "")
    except ValueError:  # a host name: the port is all we can compare cheaply
        return None
    if ipaddress.ip_address(bound[0].split("%")[0]) != wanted:
        return f"fd {entry.fd} is bound to {bound[0]}, not {entry.host}"
    return None


class SocketHits:
    """Per-socket hit counters fed by one edge-triggered epoll on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._loop.add_reader(self._epoll.fileno(), self._on_ready)
        self.sockets: dict[int, ListenSocket] = {}
        self.watched: set[int] = set()
        self.reads: dict[int, int] = {}
        self.totals: dict[int, int] = {}
        self._explained: set[tuple[int, str]] = set()

    def _on_ready(self) -> None:
        reads = self.reads
        for fd, _ in self._epoll.poll(0):
            reads[fd] = reads.get(fd, 0) + 1

    def update(self, entries: list[ListenSocket]) -> None:
        """Watch exactly ``entries`` (the latest ``listsockets``)."""
        wanted = {entry.fd: entry for entry in entries}
        for fd in list(self.watched):
            if self.sockets.get(fd) != wanted.get(fd):
                self._unwatch(fd)
        self.sockets = wanted
        for fd, entry in wanted.items():
            self.reads.setdefault(fd, 0)
            self.totals.setdefault(fd, 0)
            if fd in self.watched:
                continue
            reason = mismatch(entry)
            if reason is not None:
                if (fd, entry.address) not in self._explained:
                    self._explained.add((fd, entry.address))
                    log.info("not counting hits on socket %s at %s: %s (circusd-stats must be "
                             "started by circusd with use_sockets = True)",
                             entry.name, entry.address, reason)
                continue
            self._epoll.register(fd, select.EPOLLIN | select.EPOLLET)
            self.watched.add(fd)
        for table in (self.reads, self.totals):
            for fd in set(table) - set(wanted):
                del table[fd]

    def _unwatch(self, fd: int) -> None:
        self.watched.discard(fd)
        with contextlib.suppress(OSError):  # closed: the kernel already dropped it
            self._epoll.unregister(fd)

    def take(self) -> dict[int, int]:
        """The hits since the last call, per fd (reset to zero)."""
        taken = self.reads
        self.reads = dict.fromkeys(self.sockets, 0)
        for fd, count in taken.items():
            if fd in self.totals:
                self.totals[fd] += count
        return taken

    def close(self) -> None:
        """Stop watching and close the epoll (never the sockets)."""
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        self.watched.clear()
