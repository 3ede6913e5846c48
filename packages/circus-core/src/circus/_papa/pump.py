"""One thread that reads every papa watch connection of circusd.

papa's ``Watcher`` blocks, so a thread reads it; one thread serves all of
them with ``selectors`` instead of one thread per connection. A batch goes to
the loop (``call_soon_threadsafe``); the loop writes it and calls :meth:`ack`,
and only then is the batch acknowledged to papa, which deletes it. A batch
circusd never wrote is therefore sent again to the next circusd: output is
written exactly once across a restart. papa sends nothing on a connection
until its batch is acknowledged, so a connection leaves the selector while
its batch is on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger("circus")

Records = list[Any]  # papa.ProcessOutput records

_JOIN_TIMEOUT = 5.0


class WatchClient(Protocol):
    """Who gets the batches of one watch connection (called on the loop)."""

    def batch(self, out: Records, err: Records, closed: Records, handovers: Records,
              ack: Callable[[], None]) -> None:
        """Handle one batch (``handovers``: papa.Handover), then call ``ack`` once it is written."""

    def ended(self) -> None:
        """Every watched process exited and was acknowledged: the watch is over."""

    def lost(self, reason: str) -> None:
        """The connection to papa broke (papa died or was killed)."""


@dataclass(eq=False)
class _Entry:
    watcher: Any  # papa.Watcher
    client: WatchClient
    in_flight: bool = False
    detach: list[asyncio.Future[None]] = field(default_factory=list)


class WatchPump:
    """Reads papa watch connections in a thread; the loop handles what they carry.

    Args:
        loop: the loop the clients' methods run on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._commands: deque[Callable[[], None]] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._entries: dict[int, _Entry] = {}  # id(watcher) → entry
        self._stopping: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="papa-watch", daemon=True)
        self._thread.start()

    @property
    def watches(self) -> int:
        """Number of open watch connections."""
        return len(self._entries)

    # -- from the loop -------------------------------------------------------------

    def add(self, watcher: Any, client: WatchClient) -> None:
        """Start reading ``watcher`` (a ``papa.Watcher``); batches go to ``client``."""
        self._send(lambda: self._add(watcher, client))

    async def watch_more(self, watcher: Any, *names: str) -> bool:
        """Add ``names`` to the open watch ``watcher`` (a ``keep`` watch: ``papa.Watcher.add``).

        Returns:
            False when that connection is closed or broken (open another one).
        """
        future: asyncio.Future[bool] = self._loop.create_future()

        def add() -> None:
            entry = self._entries.get(id(watcher))
            added = False
            if entry is not None and not entry.detach:
                try:
                    entry.watcher.add(*names)
                    added = True
                except Exception as exc:
                    self._broken(entry, exc)
            self._loop.call_soon_threadsafe(
                lambda: None if future.done() else future.set_result(added))

        self._send(add)
        return await future

    async def detach(self, client: WatchClient) -> None:
        """Stop reading ``client``'s connections once their batches are acknowledged.

        The connections are closed; papa keeps whatever circusd did not
        acknowledge for the next watcher.
        """
        future = self._loop.create_future()
        self._send(lambda: self._detach(client, future))
        await future

    async def stop(self) -> None:
        """Detach every connection and end the thread.

        A batch the loop never acknowledges (a bug) is waited for at most
        ``_JOIN_TIMEOUT``; then its connection is closed anyway, and papa sends
        that batch again to the next circusd.
        """
        future = self._loop.create_future()
        self._send(lambda: self._stop(future))
        try:
            await asyncio.wait_for(asyncio.shield(future), _JOIN_TIMEOUT)
        except asyncio.TimeoutError:
            logger.error("papa watch: a batch was never written; closing its connection")
            self._send(self._abort)
        # Bounded: a read stuck on a hung papa must not keep circusd from exiting.
        await self._loop.run_in_executor(None, self._thread.join, _JOIN_TIMEOUT)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _send(self, command: Callable[[], None]) -> None:
        self._commands.append(command)
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _resolve(self, future: asyncio.Future[None]) -> None:
        def done() -> None:
            if not future.done():
                future.set_result(None)
        self._loop.call_soon_threadsafe(done)

    # -- in the thread ---------------------------------------------------------------

    def _add(self, watcher: Any, client: WatchClient) -> None:
        entry = _Entry(watcher, client)
        self._entries[id(watcher)] = entry
        self._listen(entry)

    def _listen(self, entry: _Entry) -> None:
        # The client may already hold a whole batch that came with the reply to
        # "watch" (select cannot see it): read it now.
        try:
            buffered = entry.watcher.ready
        except Exception as exc:
            self._broken(entry, exc)
            return
        if buffered:
            self._read(entry)
            return
        fileno = entry.watcher.fileno()
        if fileno >= 0:
            self._selector.register(fileno, selectors.EVENT_READ, entry)

    def _detach(self, client: WatchClient, future: asyncio.Future[None]) -> None:
        entries = [e for e in self._entries.values() if e.client is client]
        for entry in entries:
            entry.detach.append(future)
        if not entries:
            self._resolve(future)
        for entry in entries:
            self._maybe_close(entry)

    def _stop(self, future: asyncio.Future[None]) -> None:
        self._stopping = future
        for entry in list(self._entries.values()):
            entry.detach.append(future)
            self._maybe_close(entry)
        if not self._entries:
            self._resolve(future)

    def _abort(self) -> None:
        for entry in list(self._entries.values()):
            entry.in_flight = False
            self._maybe_close(entry)

    def _maybe_close(self, entry: _Entry) -> None:
        """Close a detaching connection unless its batch awaits being written."""
        if entry.in_flight or not entry.detach:
            return
        self._forget(entry)
        with contextlib.suppress(Exception):
            entry.watcher.close()
        self._release(entry)

    def _forget(self, entry: _Entry) -> None:
        self._entries.pop(id(entry.watcher), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(entry.watcher.fileno())

    def _release(self, entry: _Entry) -> None:
        """Resolve the detach futures no remaining connection waits on."""
        for future in entry.detach:
            if not any(future in other.detach for other in self._entries.values()):
                self._resolve(future)

    def _ack(self, entry: _Entry) -> None:
        entry.in_flight = False
        if id(entry.watcher) not in self._entries:
            return
        try:
            entry.watcher.acknowledge()
        except Exception as exc:  # papa.Error or OSError: the connection broke
            self._broken(entry, exc)
            return
        if entry.detach:
            self._maybe_close(entry)
        else:
            self._listen(entry)

    def _broken(self, entry: _Entry, exc: BaseException) -> None:
        self._forget(entry)
        with contextlib.suppress(Exception):
            entry.watcher.close()
        self._loop.call_soon_threadsafe(entry.client.lost, str(exc) or type(exc).__name__)
        self._release(entry)

    def _read(self, entry: _Entry) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(entry.watcher.fileno())
        try:
            batch = entry.watcher.read()
        except Exception as exc:
            self._broken(entry, exc)
            return
        if batch is None:  # "Nothing left to watch": every process ended and was acked
            self._forget(entry)
            with contextlib.suppress(Exception):
                entry.watcher.close()
            self._loop.call_soon_threadsafe(entry.client.ended)
            self._release(entry)
            return
        entry.in_flight = True
        out, err, closed = batch
        handovers = list(getattr(entry.watcher, "handovers", ()))

        def ack() -> None:
            self._send(lambda: self._ack(entry))

        self._loop.call_soon_threadsafe(entry.client.batch, out, err, closed, handovers, ack)

    def _run(self) -> None:
        while True:
            while self._commands:
                try:
                    self._commands.popleft()()
                except Exception:
                    logger.exception("papa watch thread: a command failed")
            if self._stopping is not None and not self._entries:
                return
            events = self._selector.select()
            for key, _ in events:
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 4096):
                            pass
                elif id(key.data.watcher) in self._entries and not key.data.in_flight:
                    self._read(key.data)
