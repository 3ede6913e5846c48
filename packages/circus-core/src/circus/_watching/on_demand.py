"""On-demand watchers: started by the first connection to one of their sockets.

Event-driven: the loop watches the listening fds with ``add_reader`` (no
polling). The connection that wakes a watcher is never accepted here; it stays
in the backlog and the new process, which inherits the listening socket,
accepts it. While the watcher runs its sockets are not watched; when it stops
(its processes all exited, or a ``stop`` command) they are watched again.

Only the watcher's own sockets count (those its cmd/args name, or all with
``use_sockets``), never so_reuseport ones: circusd holds no listening copy of
those, so they can never become readable (upstream's select() saw them as
always readable and started every on-demand watcher at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol

from circus._base.events import EventBus, EventPayload
from circus.sockets import CircusSocket, SocketLike

logger = logging.getLogger("circus")


class OnDemandWatcher(Protocol):
    """What an on-demand start needs of a watcher (a :class:`~circus.watcher.Watcher`)."""

    @property
    def name(self) -> str:
        """The watcher's name."""
        ...

    @property
    def on_demand(self) -> bool:
        """Whether the watcher is started by a connection."""
        ...

    def status(self) -> str:
        """``"active"``, ``"stopped"``, ..."""
        ...

    def socket_names(self) -> list[str]:
        """The names of the sockets the watcher's processes get."""
        ...

    def start(self) -> Awaitable[object]:
        """Start the watcher."""
        ...


class OnDemandArbiter(Protocol):
    """What :class:`OnDemand` needs of the arbiter (a :class:`~circus.arbiter.Arbiter`)."""

    @property
    def events(self) -> EventBus:
        """The arbiter's event bus."""
        ...

    @property
    def watchers(self) -> Sequence[OnDemandWatcher]:
        """The arbiter's watchers."""
        ...

    @property
    def sockets(self) -> Mapping[str, SocketLike]:
        """The arbiter's sockets, by name."""
        ...

    @property
    def quitting(self) -> bool:
        """True once the arbiter is shutting down."""
        ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the arbiter runs on."""
        ...

    def get_watcher(self, name: str) -> OnDemandWatcher:
        """The watcher called ``name`` (raises when there is none)."""
        ...


class OnDemand:
    """Arms the sockets of the arbiter's on-demand watchers while they are stopped."""

    def __init__(self, arbiter: OnDemandArbiter) -> None:
        self._arbiter = arbiter
        self._armed: dict[str, list[int]] = {}  # watcher name (lowercased) → watched fds
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = True  # False once the arbiter stops: nothing is re-armed
        self._unsubscribe = arbiter.events.subscribe(self._on_event)

    def arm_all(self) -> None:
        """Watch the sockets of every stopped on-demand watcher."""
        for watcher in self._arbiter.watchers:
            if watcher.on_demand and watcher.status() == "stopped":
                self.arm(watcher)

    def arm(self, watcher: OnDemandWatcher) -> None:
        """Start ``watcher`` at the next connection to one of its sockets."""
        key = watcher.name.lower()
        if key in self._armed or self._arbiter.quitting or not self._running:
            return
        fds = [sock.fileno() for sock in self._sockets(watcher)]
        fds = [fd for fd in fds if fd >= 0]
        if not fds:
            logger.warning("watcher %s: on_demand, but it uses no socket circusd listens on",
                           watcher.name)
            return
        loop = self._arbiter.loop
        for fd in fds:
            loop.add_reader(fd, self._wake, watcher)
        self._armed[key] = fds
        logger.debug("watcher %s: waiting for a connection on fds %s", watcher.name, fds)

    def disarm(self, name: str) -> None:
        """Stop watching the sockets of watcher ``name``."""
        for fd in self._armed.pop(name.lower(), []):
            self._arbiter.loop.remove_reader(fd)

    def close(self) -> None:
        """Stop watching everything (the arbiter is stopping)."""
        self._running = False
        for name in list(self._armed):
            self.disarm(name)
        self._unsubscribe()

    def _sockets(self, watcher: OnDemandWatcher) -> list[SocketLike]:
        sockets = self._arbiter.sockets
        found = []
        for name in watcher.socket_names():
            sock = sockets.get(name)
            if isinstance(sock, CircusSocket) and sock.so_reuseport:
                continue  # so_reuseport: nothing in circusd ever becomes readable
            if sock is not None:
                found.append(sock)
        return found

    def _wake(self, watcher: OnDemandWatcher) -> None:
        self.disarm(watcher.name)
        if watcher not in self._arbiter.watchers:
            return
        logger.info("watcher %s: connection on its socket; starting it", watcher.name)
        task = self._arbiter.loop.create_task(self._start(watcher))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, watcher: OnDemandWatcher) -> None:
        try:
            await watcher.start()
        finally:
            # A start refused by a hook leaves it stopped: wait for the next one.
            if watcher.status() == "stopped" and watcher in self._arbiter.watchers:
                self.arm(watcher)

    def _on_event(self, topic: str, payload: EventPayload) -> None:
        parts = topic.split(".")
        if len(parts) < 3 or parts[0] != "watcher":
            return
        name, event = ".".join(parts[1:-1]), parts[-1]
        if event in ("start", "remove"):
            self.disarm(name)
        elif event in ("stop", "add"):
            try:
                watcher = self._arbiter.get_watcher(name)
            except Exception:
                return
            if watcher.on_demand and watcher.status() == "stopped":
                self.arm(watcher)
