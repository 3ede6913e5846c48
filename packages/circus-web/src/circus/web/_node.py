"""One circusd as the console sees it: shared polling, events, stats, output.

However many browsers are open, each circusd is asked once per interval
(``status``, then ``list`` of every watcher in one burst on one DEALER), and
sooner when its event channel says something changed. Its event channel
(``watcher.``) and circusd-stats' channel (``stat.``) are each read by one
SUB socket. Everything goes out through the :class:`~circus.web._hub.Hub`.

The event connection carries ZMTP heartbeats (:data:`HEARTBEAT`), so a cut
link marks the node down within a few of them even while a poll waits out
its timeout, and the link's return wakes the poller at once. Each outage is
logged once, and so is the recovery.

Only the public ``circus.client`` API is used: any circusd speaking the
protocol works, ours or upstream's.

Readiness (our circusd's health checks) comes with each poll and, in
between, from the ``ready`` and ``unhealthy`` events, without a poll
(:mod:`circus.web._readiness`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from circus.client import (
    AsyncCircusClient,
    AsyncEventSubscriber,
    ClientError,
    CurveKeys,
    KeyFileError,
    heartbeat_options,
    link_changes,
    raise_for_status,
    read_key_file,
)
from circus.client.protocol import EndpointError, parse_endpoint
from circus.web._hub import Hub
from circus.web._readiness import Readiness

logger = logging.getLogger("circus.web")

CLOSE_TIMEOUT = 5.0  # seconds close() waits for the node's tasks to end


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` seconds pass.

    Not ``asyncio.wait_for``: before Python 3.12 it can swallow a cancellation
    that lands as the event is set, and a cancelled poller would run on and
    keep circushttpd from exiting on SIGTERM.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()

OUTPUT_LINES = 500
"""Lines of output kept per watcher, for a tail opened later."""

_STATS_PERIOD = 1.0

HEARTBEAT = 0.5
"""Seconds between two heartbeats on a node's event connection, and between reconnects."""

HEARTBEATS_MISSED = 3
"""Silent heartbeats after which the node counts as down (1.5 s with :data:`HEARTBEAT`)."""


@dataclass(frozen=True)
class NodeSpec:
    """Where one circusd is: its control endpoint, maybe its channels' too.

    ``pubsub`` and ``stats`` override what ``globaloptions`` reports (for an
    endpoint reached through a tunnel or NAT, or a relay). ``stats_key`` is
    the public key file of a circusd-stats that serves CURVE with a key pair
    of its own (one on another host); by default it is circusd's, as when
    circusd runs circusd-stats.
    """

    endpoint: str
    pubsub: str | None = None
    stats: str | None = None
    stats_key: str | None = None

    @classmethod
    def parse(cls, text: str) -> NodeSpec:
        """``CTL[,pubsub=EP][,stats=EP][,stats_key=FILE]``; ValueError naming the bad part."""
        head, *rest = [part.strip() for part in text.split(",")]
        fields: dict[str, str] = {}
        try:
            endpoint = parse_endpoint(head).text
            for part in rest:
                key, sep, value = part.partition("=")
                if not sep or key not in ("pubsub", "stats", "stats_key"):
                    raise ValueError(f"endpoint {text!r}: unknown part {part!r} "
                                     "(expected pubsub=ENDPOINT, stats=ENDPOINT or "
                                     "stats_key=FILE)")
                if key == "stats_key":
                    read_key_file(value)  # a missing or bad file fails the start, not a poll
                    fields[key] = value
                else:
                    fields[key] = parse_endpoint(value).text
        except (EndpointError, KeyFileError) as exc:
            raise ValueError(str(exc)) from None
        return cls(endpoint, fields.get("pubsub"), fields.get("stats"), fields.get("stats_key"))


def split_topic(topic: str, prefix: str) -> tuple[str, str]:
    """``prefix<name>.<last>`` → ``(name, last)``; names may contain dots."""
    name, _, last = topic[len(prefix):].rpartition(".")
    return name, last


def _output_line(watcher: str, payload: Mapping[str, object]) -> dict[str, Any]:
    """One line of output as the pages get it: the topic's payload plus the watcher."""
    stamp = payload.get("time")
    return {"watcher": watcher, "pid": payload.get("pid"),
            "stream": payload.get("stream", "stdout"), "data": str(payload.get("data", "")),
            "time": float(stamp) if isinstance(stamp, (int, float)) else time.time()}


class Node:
    """The console's link to one circusd."""

    def __init__(self, node_id: str, spec: NodeSpec, hub: Hub, *, interval: float = 1.0,
                 timeout: float = 5.0, action_timeout: float = 60.0, ssh_server: str | None = None,
                 ssh_keyfile: str | None = None, curve: CurveKeys | None = None,
                 stats_curve: CurveKeys | None = None) -> None:
        self.id = node_id
        self.spec = spec
        self.hub = hub
        self.interval = interval
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.ssh_server = ssh_server
        self.ssh_keyfile = ssh_keyfile
        self.curve = curve  # circusd's control and event endpoints
        # circusd-stats's endpoint: its own server key when it runs elsewhere with its own pair.
        self.stats_curve = stats_curve or curve
        self.state = "connecting"
        self.error = ""
        self.watchers: dict[str, dict[str, Any]] = {}
        self.sockets: list[dict[str, Any]] = []
        self.options: dict[str, Any] = {}
        self.output: dict[str, deque[dict[str, Any]]] = {}
        self.stats: dict[str, Any] = {"watchers": {}, "pids": {}, "sockets": {}, "circus": {}}
        self._client: AsyncCircusClient | None = None
        # Actions wait for circusd (a graceful stop may take a while) on a
        # client of their own, so they never delay the poller.
        self._actions: AsyncCircusClient | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[AsyncEventSubscriber] = []
        self._last_sent: Any = None
        self.readiness = Readiness(self._fold_readiness)

    # -- public -------------------------------------------------------------

    def start(self) -> None:
        """Start polling in the background."""
        self._tasks.append(asyncio.create_task(self._poll_forever()))

    async def close(self) -> None:
        """Stop every task and close every socket."""
        self.readiness.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task that swallowed its cancel must not hold the exit.
            await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT)
        self._tasks.clear()
        for sub in self._subs:
            sub.close()
        self._subs.clear()
        await self._drop_client()
        if self._actions is not None:
            await self._actions.close()
            self._actions = None

    def snapshot(self) -> dict[str, Any]:
        """What the pages show of this circusd, as JSON-able data."""
        return {"id": self.id, "endpoint": self.spec.endpoint, "state": self.state,
                "error": self.error, "watchers": self.watchers, "sockets": self.sockets,
                "options": self.options}

    async def call(self, command: str, **props: Any) -> dict[str, Any]:
        """Run one command on this circusd; wakes the poller so pages follow at once.

        Raises:
            ClientError: unreachable, timed out, or an error reply (``CallError``).
        """
        if self._actions is None:
            self._actions = AsyncCircusClient(self.spec.endpoint, timeout=self.action_timeout,
                                              ssh_server=self.ssh_server,
                                              ssh_keyfile=self.ssh_keyfile,
                                              curve=self.curve)
        try:
            reply = await self._actions.call(command, **props)
        except ClientError:
            await self._actions.close()
            self._actions = None
            raise
        finally:
            self._wake.set()
        return dict(raise_for_status(reply))

    def recent_output(self, watcher: str) -> list[dict[str, Any]]:
        """The output lines of ``watcher`` kept so far, oldest first."""
        return list(self.output.get(watcher, ()))

    async def fetch_output(self, watcher: str) -> tuple[list[dict[str, Any]], float] | None:
        """circusd's own last lines of ``watcher`` (its ``tail`` command) and the reply's time.

        None when circusd cannot say: a circusd without the command (upstream's),
        a watcher without ``publish_output``, no answer. circusd's buffer holds
        lines printed before this console started; combine with :meth:`backlog`.
        """
        if self.state != "up":
            return None  # no stream waits out a timeout on a circusd known to be down
        try:
            reply = await self._connect().call("tail", name=watcher, lines=OUTPUT_LINES)
        except ClientError:
            return None
        if reply.get("status") != "ok":
            return None
        lines = [_output_line(watcher, line) for line in reply.get("lines", [])
                 if isinstance(line, Mapping)]
        return lines, float(reply.get("time", 0.0))

    def backlog(self, watcher: str,
                fetched: tuple[list[dict[str, Any]], float] | None) -> list[dict[str, Any]]:
        """What a tail opened now starts with: ``fetched`` (see :meth:`fetch_output`), then
        the lines the topic brought since; only this console's own lines without it.

        Synchronous, so a caller that joins the hub right after misses no line
        and shows none twice.
        """
        kept = self.recent_output(watcher)
        if fetched is None:
            return kept
        lines, replied = fetched
        # circusd stamps each chunk's lines before it answers: whatever is
        # stamped no later than its newest line (or its reply) is in ``lines``.
        cutoff = float(lines[-1]["time"]) if lines else replied
        return lines + [line for line in kept if float(line["time"]) > cutoff]

    # -- polling ------------------------------------------------------------

    def _connect(self) -> AsyncCircusClient:
        if self._client is None:
            self._client = AsyncCircusClient(self.spec.endpoint, timeout=self.timeout,
                                             ssh_server=self.ssh_server,
                                             ssh_keyfile=self.ssh_keyfile, curve=self.curve)
        return self._client

    async def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None

    async def _poll_forever(self) -> None:
        backoff = self.interval
        while True:
            try:
                if not self._subs:
                    await self._open_channels()
                await self._poll_once()
                backoff = self.interval
            except ClientError as exc:
                self._mark_down(str(exc))
                await self._drop_client()  # a fresh socket drops stale requests
                backoff = min(backoff * 2, 10.0)
            self._wake.clear()
            await wait_event(self._wake, backoff)
            # Events come in bursts (a stop reaps every process): gather them.
            await asyncio.sleep(0.05)

    def _mark_down(self, error: str) -> None:
        # One line per outage: a poll timing out after the link watch saw
        # the cut is the same outage.
        if self.state != "down":
            logger.warning("circusd %s: %s", self.spec.endpoint, error)
        self.state, self.error = "down", error
        self._send_snapshot()

    async def _watch_link(self, events: AsyncEventSubscriber) -> None:
        # aclosing: a cancelled watch closes its monitor socket at once, or
        # the subscriber's context could not terminate.
        changes = link_changes(events.socket, HEARTBEAT * HEARTBEATS_MISSED)
        async with contextlib.aclosing(changes):
            async for change in changes:
                if not change.up and self.state == "up":
                    self._mark_down(f"lost contact: {change.reason}")
                elif change.up and self.state == "down":
                    self._wake.set()  # poll now, not after the backoff

    async def _open_channels(self) -> None:
        reply = await self._connect().call("globaloptions")
        self.options = dict(reply.get("options", {}))
        pubsub = self.spec.pubsub or self.options.get("pubsub_endpoint")
        stats = self.spec.stats or self.options.get("stats_endpoint")
        if pubsub:
            events = AsyncEventSubscriber(pubsub, ("watcher.",), ssh_server=self.ssh_server,
                                          ssh_keyfile=self.ssh_keyfile, curve=self.curve,
                                          options=heartbeat_options(HEARTBEAT, HEARTBEATS_MISSED))
            self._subs.append(events)
            self._tasks.append(asyncio.create_task(self._read_events(events)))
            self._tasks.append(asyncio.create_task(self._watch_link(events)))
        if stats:
            stat_sub = AsyncEventSubscriber(stats, ("stat.",), ssh_server=self.ssh_server,
                                            ssh_keyfile=self.ssh_keyfile, curve=self._stats_curve())
            self._subs.append(stat_sub)
            self._tasks.append(asyncio.create_task(self._read_stats(stat_sub)))
            self._tasks.append(asyncio.create_task(self._send_stats()))

    def _stats_curve(self) -> CurveKeys | None:
        """The CURVE keys for circusd-stats: this endpoint's ``stats_key`` as its server key,
        else ``--curve-stats-server-key``'s, else circusd's."""
        if self.curve is None or self.spec.stats_key is None:
            return self.stats_curve
        server = read_key_file(self.spec.stats_key).public
        return CurveKeys(server, self.curve.public, self.curve.secret)

    async def _poll_once(self) -> None:
        client = self._connect()
        self.readiness.begin_poll()
        try:
            # verbose: our circusd adds each process's readiness; upstream's ignores it.
            status = await client.call("status", verbose=True)
            statuses: dict[str, str] = dict(status.get("statuses", {}))
            names = sorted(statuses)
            # All in flight at once on the one DEALER: one round trip, not 2N + 1.
            lists, counts, sockets = await asyncio.gather(
                asyncio.gather(*(client.call("list", name=name) for name in names)),
                asyncio.gather(*(client.call("numprocesses", name=name) for name in names)),
                client.call("listsockets"),
            )
        except BaseException:
            self.readiness.abort_poll()
            raise
        watchers: dict[str, dict[str, Any]] = {}
        for name, listed, counted in zip(names, lists, counts, strict=True):
            pids = sorted(int(pid) for pid in listed.get("pids", []) or [])
            watchers[name] = {"status": statuses[name], "pids": pids,
                              "numprocesses": counted.get("numprocesses", len(pids))}
        self.readiness.annotate(watchers, status.get("health"))
        self.watchers = watchers
        self.sockets = [dict(entry) for entry in sockets.get("sockets", [])]
        if self.state == "down":
            logger.info("circusd %s answers again", self.spec.endpoint)
        self.state, self.error = "up", ""
        self._send_snapshot()

    def _send_snapshot(self) -> None:
        snap = self.snapshot()
        if snap != self._last_sent:
            self._last_sent = snap
            self.hub.publish("node", snap)

    # -- channels -----------------------------------------------------------

    async def _read_events(self, events: AsyncEventSubscriber) -> None:
        async for topic, payload in events:
            name, action = split_topic(topic, "watcher.")
            if action == "output":
                self._add_output(name, payload)
            elif action in ("ready", "unhealthy"):
                # No poll: the state is in the event. An unhealthy process's
                # restart brings kill/reap/spawn events, which do poll.
                self.readiness.apply(name, action, payload)
            else:
                self._wake.set()

    def _fold_readiness(self) -> None:
        self.watchers = self.readiness.fold(self.watchers)
        self._send_snapshot()

    def _add_output(self, watcher: str, payload: Mapping[str, object]) -> None:
        line = _output_line(watcher, payload)
        kept = self.output.setdefault(watcher, deque(maxlen=OUTPUT_LINES))
        kept.append(line)
        self.hub.publish_output(self.id, watcher, {"node": self.id, "lines": [line]})

    async def _read_stats(self, sub: AsyncEventSubscriber) -> None:
        async for topic, payload in sub:
            stats = self.stats  # replaced by each tick of _send_stats
            if topic == "stat.sockets":
                continue
            if topic.startswith("stat.sockets."):
                stats["sockets"][str(payload.get("fd"))] = {
                    "reads": payload.get("reads", 0), "address": payload.get("address", "")}
                continue
            name, last = split_topic(topic, "stat.")
            if last.isdigit() and name:
                stats["pids"][last] = {"watcher": name, "cpu": payload.get("cpu"),
                                       "mem": payload.get("mem"), "age": payload.get("age"),
                                       "mem_info1": payload.get("mem_info1")}
            else:
                whole = f"{name}.{last}" if name else last
                stats["watchers"][whole] = {"cpu": payload.get("cpu"),
                                            "mem": payload.get("mem")}

    async def _send_stats(self) -> None:
        while True:
            await asyncio.sleep(_STATS_PERIOD)
            stats = self.stats
            if stats["watchers"] or stats["pids"] or stats["sockets"]:
                self.hub.publish("stats", {"node": self.id, "time": time.time(), **stats})
            # Only what arrived since the last tick: a dead pid stops being shown.
            self.stats = {"watchers": {}, "pids": {}, "sockets": {}, "circus": {}}
