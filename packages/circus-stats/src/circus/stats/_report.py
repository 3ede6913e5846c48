"""One tick: sample the tracked processes, publish the stats messages, refresh metrics.

The messages are upstream's ``stat.*`` topics and payloads, listed under
"circusd-stats" in the circus-stats README; a process of a watcher also
carries its ``health`` when circusd reports readiness (ours).

Groups nobody subscribed to are not sampled at all (unless Prometheus needs
them), so with no subscriber and no ``--prometheus`` a tick costs a few
microseconds. Payloads are built as plain dicts and encoded with one
reusable compact encoder: at 1000 processes the whole tick must stay near
20 ms.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from circus.stats._circusd import CircusdLink
from circus.stats._publisher import StatsPublisher
from circus.stats._sampler import NA, ProcessSample, Sampler
from circus.stats._snapshot import MetricsSnapshot, ProcessPoint
from circus.stats._sockets import SocketHits

if TYPE_CHECKING:
    from circus.stats._prometheus import PrometheusServer

CIRCUS_GROUP = "circus"
HIDDEN_WATCHERS = ("circusd-stats", "circushttpd")
"""Watchers reported inside the ``circus`` group instead of as groups of their own."""

_encode = json.JSONEncoder(separators=(",", ":")).encode

Member = tuple[int, "str | None"]
_NAMES = {None: "null", "circusd": '"circusd"', "circusd-stats": '"circusd-stats"',
          "circushttpd": '"circushttpd"'}


def aggregate(pids: list[int], samples: list[ProcessSample]) -> dict[str, list[int] | float | str]:
    """The ``stat.<group>`` payload: pids, mean cpu, summed mem, max age (N/A wins)."""
    def column(values: list[float | str]) -> list[float] | None:
        numbers = [value for value in values if not isinstance(value, str)]
        return None if len(numbers) < len(values) else numbers  # a str is NA

    cpu = column([s.cpu for s in samples])
    mem = column([s.mem for s in samples])
    age = column([s.age for s in samples])
    return {
        "pid": pids,
        "cpu": NA if cpu is None else (round(sum(cpu) / len(cpu), 2) if cpu else 0.0),
        "mem": NA if mem is None else round(sum(mem), 2),
        "age": NA if age is None else (max(age) if age else 0.0),
    }


class Reporter:
    """Runs the ticks; owns nothing but the CPU totals of processes that are gone."""

    def __init__(self, link: CircusdLink, publisher: StatsPublisher, sampler: Sampler,
                 hits: SocketHits, prometheus: PrometheusServer | None) -> None:
        self.link = link
        self.publisher = publisher
        self.sampler = sampler
        self.hits = hits
        self.prometheus = prometheus
        self._own_pid = os.getpid()
        self._last_cpu: dict[str, dict[int, float]] = {}
        self._retired_cpu: dict[str, float] = {}

    def groups(self) -> Iterable[tuple[str, list[Member]]]:
        """Every published group and its ``(pid, name)`` members."""
        tracked = self.link.tracker.pids
        for watcher, pids in tracked.items():
            if watcher not in HIDDEN_WATCHERS:
                yield watcher, [(pid, None) for pid in pids]
        circus: list[Member] = []
        if self.link.circusd_pid is not None:
            circus.append((self.link.circusd_pid, "circusd"))
        circus.append((self._own_pid, "circusd-stats"))
        circus.extend((pid, "circushttpd") for pid in tracked.get("circushttpd", ()))
        yield CIRCUS_GROUP, circus

    def tick(self) -> None:
        """Sample, publish and snapshot once."""
        publisher = self.publisher
        publisher.refresh_subscriptions()
        if self.link.sockets_changed.is_set():
            self.link.sockets_changed.clear()
            self.hits.update(self.link.sockets)
        hits = self.hits.take()  # reset every tick, listened to or not
        if not self.link.synced:
            return
        metrics = self.prometheus is not None
        tracker = self.link.tracker
        health = tracker.reports_health
        # Messages go out in one burst after the sampling: sent one by one
        # between reads, each would wake ZeroMQ's I/O thread on its own.
        outbox: list[tuple[bytes, bytes]] = []
        wall, mono = time.time(), time.monotonic()
        points: list[ProcessPoint] = []
        gone: list[tuple[str, int]] = []
        names: list[str] = []
        for group, members in list(self.groups()):
            topic = b"stat." + group.encode()
            wanted = publisher.wants(topic)
            names.append(group)
            if not wanted and not metrics:
                continue
            pids: list[int] = []
            samples: list[ProcessSample] = []
            cpu_now: dict[int, float] = {}
            states = tracker.pids.get(group, {}) if health and group != CIRCUS_GROUP else {}
            for pid, name in members:
                sample = self.sampler.sample(pid, wall, mono)
                if sample is None:
                    gone.append((group, pid))
                    continue
                state = states.get(pid)
                if wanted:
                    # The state is one of HEALTH_STATES (the tracker checks): no escaping.
                    extra = "" if state is None else f',"health":"{state}"'
                    body = f'{sample.body},"subtopic":{pid},"name":{_NAMES[name]}{extra}}}'
                    outbox.append((b"%s.%d" % (topic, pid), body.encode()))
                pids.append(pid)
                samples.append(sample)
                if metrics:
                    points.append(ProcessPoint(group, pid, sample.cpu_seconds,
                                               sample.rss_bytes, sample.create_time, state))
                    if sample.cpu_seconds is not None:
                        cpu_now[pid] = sample.cpu_seconds
            if wanted:
                outbox.append((topic, _encode(aggregate(pids, samples)).encode()))
            if metrics:
                self._retire(group, cpu_now)
        self._drop_gone(gone)
        if publisher.wants(b"stat.sockets"):
            self._socket_messages(hits, outbox)
        publisher.send_all(outbox)
        if self.prometheus is not None:
            self.prometheus.publish(self._snapshot(names, points))

    def _retire(self, group: str, cpu_now: dict[int, float]) -> None:
        # A watcher's CPU counter must never go down when a process exits.
        previous = self._last_cpu.get(group, {})
        for pid, seconds in previous.items():
            if pid not in cpu_now:
                self._retired_cpu[group] = self._retired_cpu.get(group, 0.0) + seconds
        self._last_cpu[group] = cpu_now

    def _drop_gone(self, gone: list[tuple[str, int]]) -> None:
        for group, pid in gone:
            self.sampler.forget(pid)
            if group != CIRCUS_GROUP:
                self.link.tracker.drop(group, pid)
            elif pid == self.link.circusd_pid:
                self.link.circusd_pid = None
                self.link.request_resync()  # circusd died: find the new one
            else:
                self.link.tracker.drop("circushttpd", pid)

    def _socket_messages(self, hits: dict[int, int], outbox: list[tuple[bytes, bytes]]) -> None:
        total = 0
        addresses: list[str] = []
        for fd, entry in sorted(self.hits.sockets.items()):
            reads = hits.get(fd, 0)
            total += reads
            addresses.append(entry.address)
            payload = {"fd": fd, "subtopic": fd, "reads": reads, "address": entry.address}
            outbox.append((b"stat.sockets.%d" % fd, _encode(payload).encode()))
        outbox.append((b"stat.sockets",
                       _encode({"addresses": addresses, "reads": total}).encode()))

    def _snapshot(self, groups: list[str], points: list[ProcessPoint]) -> MetricsSnapshot:
        tracker = self.link.tracker
        live = set(groups)
        for group in list(self._retired_cpu):
            if group not in live:  # a removed watcher's history goes with it
                del self._retired_cpu[group]
                self._last_cpu.pop(group, None)
        sockets = self.hits.sockets
        return MetricsSnapshot(
            groups=tuple(groups),
            processes=tuple(points),
            retired_cpu=tuple(self._retired_cpu.items()),
            restarts=tuple(tracker.restarts.items()),
            exit_codes=tuple(tracker.last_exit_code.items()),
            reports_health=tracker.reports_health,
            unhealthy=tuple(tracker.unhealthy.items()),
            socket_hits=tuple((sockets[fd].name, sockets[fd].address, total)
                              for fd, total in sorted(self.hits.totals.items())
                              if fd in sockets and fd in self.hits.watched),
        )
