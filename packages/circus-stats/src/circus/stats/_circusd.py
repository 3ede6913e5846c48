"""Staying in step with circusd: its events, and ``list``/``dstats``/``listsockets`` resyncs.

A full resync also asks ``status`` with ``verbose`` whether circusd reports
readiness (a ``health`` key: ours does, upstream's does not).

The SUB on the event channel is opened (and subscribed) before the first
``list``, so no spawn between the bootstrap reply and the subscription is
lost. Resyncs run at start, every :data:`RESYNC_PERIOD` seconds, whenever an
``add``/``start`` event names a watcher whose pids we must learn, and after
circusd was unreachable; failures back off and keep retrying, because
circusd may start later than us or restart under us.

The event connection carries ZMTP heartbeats (:data:`HEARTBEAT`): a cut link
or a vanished circusd is noticed within a few of them even when nothing
happens, reported once, and so is its return, which triggers a resync at
once (events published meanwhile are lost to us).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TypeGuard

import zmq
import zmq.asyncio
from circus.client import (
    AsyncCircusClient,
    ClientError,
    ConnectionFailed,
    CurveKeys,
    ProtocolError,
    heartbeat_options,
    link_changes,
    open_sub,
    parse_published,
)
from circus.stats._sockets import ListenSocket
from circus.stats._tracker import PidTracker

log = logging.getLogger("circus.stats")

RESYNC_PERIOD = 30.0
"""Seconds between two full resyncs while circusd is reachable."""

RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to reach circusd, the last one repeated."""

CALL_TIMEOUT = 3.0

HEARTBEAT = 0.5
"""Seconds between two heartbeats on the event connection, and between reconnects."""

HEARTBEATS_MISSED = 3
"""Silent heartbeats after which circusd counts as lost (1.5 s with :data:`HEARTBEAT`)."""


class LinkError(Exception):
    """The link to circusd cannot be set up at all (not merely unreachable for now)."""


def open_events(context: zmq.asyncio.Context, endpoint: str, ssh_server: str | None,
                ssh_keyfile: str | None, curve: CurveKeys | None = None) -> zmq.asyncio.Socket:
    """A SUB on circusd's event channel, subscribed to ``watcher.``, with heartbeats."""
    try:
        sock = open_sub(context, endpoint, ["watcher."], ssh_server, ssh_keyfile, curve=curve,
                        options=heartbeat_options(HEARTBEAT, HEARTBEATS_MISSED))
    except ConnectionFailed as exc:
        raise LinkError(str(exc)) from exc
    assert isinstance(sock, zmq.asyncio.Socket)
    return sock


class CircusdLink:
    """Keeps a :class:`PidTracker`, circusd's pid and its sockets in step with circusd."""

    def __init__(self, endpoint: str, pubsub: str, ssh_server: str | None,
                 ssh_keyfile: str | None, context: zmq.asyncio.Context,
                 curve: CurveKeys | None = None) -> None:
        self.endpoint = endpoint
        self.pubsub = pubsub
        self.ssh_server = ssh_server
        self.ssh_keyfile = ssh_keyfile
        self.context = context
        self.curve = curve
        self.tracker = PidTracker()
        self.circusd_pid: int | None = None
        self.sockets: list[ListenSocket] = []
        self.synced = False  # at least one full sync succeeded
        self.up: bool | None = None  # None: never reached yet
        self.sockets_changed = asyncio.Event()
        self._poke = asyncio.Event()
        self._full_wanted = True
        self._client: AsyncCircusClient | None = None

    def request_resync(self) -> None:
        """Ask for a full resync now (e.g. circusd's pid vanished)."""
        self._full_wanted = True
        self._poke.set()

    async def follow_events(self) -> None:
        """Apply every event to the tracker (runs until cancelled)."""
        sock = open_events(self.context, self.pubsub, self.ssh_server, self.ssh_keyfile,
                           self.curve)
        watch = asyncio.ensure_future(self._watch_link(sock))
        try:
            while True:
                event = parse_published(await sock.recv_multipart())
                if event is None or not self.tracker.apply(*event):
                    log.debug("ignored a malformed event")
                    continue
                if self.tracker.wanted:
                    self._poke.set()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            sock.close(linger=0)

    async def _watch_link(self, sock: zmq.asyncio.Socket) -> None:
        # aclosing: a cancelled watch closes its monitor socket at once, or
        # the context could not terminate.
        changes = link_changes(sock, HEARTBEAT * HEARTBEATS_MISSED)
        async with contextlib.aclosing(changes):
            async for change in changes:
                if change.up:
                    # Events published before this (re)connection are lost to
                    # us, after an outage or a first sync that beat it: resync.
                    self.request_resync()
                    self._found()
                elif self.up is not None:  # before the first contact the resyncs report
                    self._lost(change.reason)

    def _lost(self, reason: str) -> None:
        """Log losing circusd, once per outage."""
        if self.up is False:
            return
        if self.up is None:
            if self.endpoint not in reason:  # circus.client's messages name it
                reason = f"cannot reach circusd at {self.endpoint}: {reason}"
            log.warning("%s (circusd-stats keeps retrying)", reason)
        else:
            log.warning("lost contact with circusd at %s: %s; circusd-stats keeps retrying",
                        self.endpoint, reason)
        self.up = False

    def _found(self) -> None:
        """Log finding circusd again after losing it."""
        was, self.up = self.up, True
        if was is False:
            log.info("circusd at %s answers again", self.endpoint)

    async def keep_in_sync(self) -> None:
        """Resync at start, periodically and on demand; retry while circusd is away."""
        failures = 0
        try:
            while True:
                try:
                    await self._sync()
                except (ClientError, zmq.ZMQError) as exc:
                    await self._drop_client()
                    self._lost(str(exc))
                    delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                    failures += 1
                    self._full_wanted = True
                    # A poke (the event link is back) cuts the wait short.
                    self._poke.clear()
                    await self._wait_poke(delay)
                    continue
                self._found()
                failures = 0
                await self._wait_poke(RESYNC_PERIOD)
                if self._poke.is_set():
                    self._poke.clear()
                    continue
                self._full_wanted = True
        finally:
            await self._drop_client()

    async def _wait_poke(self, timeout: float) -> None:
        # Not asyncio.wait_for: before Python 3.12 it can swallow the
        # cancellation that stops circusd-stats when a poke lands with it.
        poked = asyncio.ensure_future(self._poke.wait())
        try:
            await asyncio.wait({poked}, timeout=timeout)
        finally:
            poked.cancel()

    def _connected(self) -> AsyncCircusClient:
        if self._client is None:
            self._client = AsyncCircusClient(
                self.endpoint, timeout=CALL_TIMEOUT, ssh_server=self.ssh_server,
                ssh_keyfile=self.ssh_keyfile, check=True, curve=self.curve)
        return self._client

    async def _drop_client(self) -> None:
        # A fresh client re-probes the endpoint, so the next error says why it is away.
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _sync(self) -> None:
        client = self._connected()
        if self._full_wanted:
            self._full_wanted = False
            try:
                await self._full_sync(client)
            except BaseException:
                self._full_wanted = True
                raise
            return
        for name in sorted(self.tracker.wanted):
            await self._learn_pids(client, name)

    async def _full_sync(self, client: AsyncCircusClient) -> None:
        names = (await client.call("list")).get("watchers")
        if not isinstance(names, list):
            raise ProtocolError("circusd's list reply has no watcher list")
        names = [name for name in names if isinstance(name, str)]
        self.tracker.replace_watchers(names)
        for name in names:
            await self._learn_pids(client, name)
        # A reply of the wrong shape (another program on the endpoint, a newer
        # circusd) counts as no answer: no traceback, the next resync retries.
        info = (await client.call("dstats")).get("info")
        pid = info.get("pid") if isinstance(info, dict) else None
        self.circusd_pid = pid if _is_pid(pid) else None
        # Ours: does circusd report readiness? Upstream's ignores verbose.
        self.tracker.learn_reports_health(await client.call("status", verbose=True))
        entries = (await client.call("listsockets")).get("sockets", [])
        if not isinstance(entries, list):
            raise ProtocolError("circusd's listsockets reply has no socket list")
        sockets = [s for s in map(ListenSocket.from_reply, filter(_is_object, entries))
                   if s is not None]
        if sockets != self.sockets:
            self.sockets = sockets
            self.sockets_changed.set()
        if not self.synced:
            log.info("tracking %d watchers of circusd (pid %s)", len(names), self.circusd_pid)
        self.synced = True

    async def _learn_pids(self, client: AsyncCircusClient, name: str) -> None:
        self.tracker.begin_sync(name)
        try:
            # object, not the reply's declared type: circusd's side is not ours to trust.
            reply = await client.call("list", name=name)
            pids: object = reply.get("pids", [])
            health: object = reply.get("health")
        except ClientError as exc:
            if getattr(exc, "errno", None) == 3:  # removed meanwhile
                self.tracker.end_sync(name, None)
                self.tracker.forget(name)
                return
            self.tracker.end_sync(name, None)
            raise
        if not isinstance(pids, list):
            self.tracker.end_sync(name, None)
            raise ProtocolError(f"circusd's list reply for {name!r} has no pid list")
        self.tracker.end_sync(name, [p for p in pids if _is_pid(p)],
                              health if _is_object(health) else None)


def _is_pid(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _is_object(value: object) -> TypeGuard[Mapping[str, object]]:
    return isinstance(value, dict)
