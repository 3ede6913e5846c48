"""What circus-top knows: the latest stats per process, watcher and socket.

The model only ingests messages and forgets what has not been refreshed for
``process_timeout`` seconds. Time comes from an injectable clock, so expiry is
tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from circus.client import parse_published
from circus.top._topics import SOCKETS, parse_topic
from circus.top._units import parse_size, to_number

if TYPE_CHECKING:
    from circus.client import JSONObject


@dataclass(frozen=True)
class ProcessStat:
    """One process's latest numbers; ``None`` means the publisher said "N/A"."""

    pid: int
    cpu: float | None
    mem: float | None
    rss: int | None
    age: float | None
    name: str | None
    seen: float
    health: str | None = None  # starting, ready, unhealthy (our circusd); None: not reported


HEALTH_STATES = frozenset(("starting", "ready", "unhealthy"))
"""The readiness values a process message may carry; others are ignored."""


@dataclass(frozen=True)
class Aggregate:
    """A watcher's published aggregate: mean CPU, summed memory, oldest age."""

    pids: tuple[int, ...]
    cpu: float | None
    mem: float | None
    age: float | None
    seen: float


@dataclass(frozen=True)
class SocketStat:
    """One listening socket and how many reads it saw in the last interval."""

    fd: int
    address: str
    reads: int | None
    seen: float


@dataclass(frozen=True)
class SocketsTotal:
    """The sum of reads over every socket."""

    reads: int | None
    seen: float


class StatsModel:
    """The latest stats seen on the channel.

    Args:
        process_timeout: seconds after which an entry that was not refreshed is dropped.
        clock: a monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self, process_timeout: float = 3.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.process_timeout = process_timeout
        self.clock = clock
        self.processes: dict[str, dict[int, ProcessStat]] = {}
        self.aggregates: dict[str, Aggregate] = {}
        self.sockets: dict[int, SocketStat] = {}
        self.sockets_total: SocketsTotal | None = None
        self.last_message_at: float | None = None

    def ingest(self, frames: Sequence[bytes]) -> bool:
        """Take one raw message; return whether it was a well-formed stats message."""
        decoded = parse_published(frames)
        if decoded is None:
            return False
        topic_text, payload = decoded
        topic = parse_topic(topic_text, payload)
        if topic is None:
            return False
        now = self.clock()
        if topic.owner == SOCKETS:
            self._ingest_socket(topic.ident, payload, now)
        elif topic.ident is None:
            pids = payload.get("pid")
            self.aggregates[topic.owner] = Aggregate(
                pids=tuple(p for p in pids if isinstance(p, int)) if isinstance(pids, list) else (),
                cpu=to_number(payload.get("cpu")),
                mem=to_number(payload.get("mem")),
                age=to_number(payload.get("age")),
                seen=now,
            )
        else:
            name = payload.get("name")
            health = payload.get("health")
            self.processes.setdefault(topic.owner, {})[topic.ident] = ProcessStat(
                pid=topic.ident,
                cpu=to_number(payload.get("cpu")),
                mem=to_number(payload.get("mem")),
                rss=parse_size(payload.get("mem_info1")),
                age=to_number(payload.get("age")),
                name=name if isinstance(name, str) else None,
                seen=now,
                health=health if isinstance(health, str) and health in HEALTH_STATES else None,
            )
        self.last_message_at = now
        return True

    def _ingest_socket(self, fd: int | None, payload: JSONObject, now: float) -> None:
        reads = to_number(payload.get("reads"))
        count = None if reads is None else int(reads)
        if fd is None:
            self.sockets_total = SocketsTotal(count, now)
        else:
            address = payload.get("address")
            self.sockets[fd] = SocketStat(fd, str(address) if address else f"fd {fd}", count, now)

    def expire(self) -> None:
        """Forget every entry not refreshed within ``process_timeout`` seconds."""
        cutoff = self.clock() - self.process_timeout
        for owner in list(self.processes):
            live = {pid: p for pid, p in self.processes[owner].items() if p.seen >= cutoff}
            if live:
                self.processes[owner] = live
            else:
                del self.processes[owner]
        self.aggregates = {k: a for k, a in self.aggregates.items() if a.seen >= cutoff}
        self.sockets = {fd: s for fd, s in self.sockets.items() if s.seen >= cutoff}
        if self.sockets_total is not None and self.sockets_total.seen < cutoff:
            self.sockets_total = None

    def silent_for(self) -> float | None:
        """Seconds since the last well-formed message, or ``None`` if none ever came."""
        if self.last_message_at is None:
            return None
        return self.clock() - self.last_message_at

    def owners(self) -> set[str]:
        """Every watcher (and ``circus``) that has processes or an aggregate."""
        return set(self.processes) | set(self.aggregates)
