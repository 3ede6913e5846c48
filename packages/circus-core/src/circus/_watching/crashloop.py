"""Crash-loop protection, kept per process slot.

A *slot* is one of a watcher's ``numprocesses`` places, named by its wid.
Two kinds of trouble make a slot wait before its next spawn:

- a *quick exit*: its process exited within ``min_uptime`` of its spawn
  without circus asking. The slot is never abandoned for that: a program that
  starts and then crashes (its database is down, a file is missing) must come
  back on its own once the outage ends, as upstream's respawns-forever does.
  Stopping a flapping watcher for good is the flapping plugin's job.
- a *failed spawn*: fork or exec failed outright (missing binary, unknown
  user, bad rlimit). ``max_retry`` of those in a row, on one slot, stop the
  watcher (upstream's meaning of ``max_retry``).

Either way the wait is ``retry_in * 2**(n-1)`` seconds for the n-th trouble
in a row, capped at :data:`MAX_BACKOFF`, shortened by up to a quarter at
random so that slots failing together do not retry in lockstep (the cap
stays a true upper bound). ``backoff = false`` retries at once, as upstream
did. A process that stays up ``min_uptime`` clears its slot. Other slots are
never delayed by one slot's trouble.

While a slot waits, its wid stays reserved (it is not back in the watcher's
wid pool), so the retry runs under the same wid and the slot's count goes on.
A retry is always a new loop callback, never a loop inside one, so the daemon
stays responsive whatever the program does.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable
from typing import TypedDict

MAX_BACKOFF = 60.0  # seconds: a broken slot is retried at least this often
_JITTER = (0.75, 1.0)  # fraction of the nominal delay actually waited


def backoff_delay(retry_in: float, troubles: int, jitter: bool = True) -> float:
    """The wait before the next spawn of a slot with ``troubles`` in a row."""
    if troubles <= 0:
        return 0.0
    base = min(retry_in * 2.0 ** (troubles - 1), MAX_BACKOFF)
    return base * random.uniform(*_JITTER) if jitter else base


class SlotDescription(TypedDict):
    """A waiting slot as ``status --verbose`` shows it."""

    wid: int
    quick_exits: int  # in a row
    spawn_failures: int  # in a row
    delay: float  # seconds, the wait chosen
    retry_in: float  # seconds left before the retry


class SlotRecord:
    """The trouble record of one slot."""

    __slots__ = ("delay", "quick_exits", "retry_at", "spawn_failures", "timer", "wid")

    def __init__(self, wid: int) -> None:
        self.wid = wid
        self.quick_exits = 0  # in a row, since the slot last stayed up min_uptime
        self.spawn_failures = 0  # in a row, since its last successful spawn
        self.delay = 0.0  # the wait last chosen
        self.retry_at: float | None = None  # loop time of the pending retry
        self.timer: asyncio.TimerHandle | None = None

    @property
    def troubles(self) -> int:
        """Quick exits and failed spawns in a row: what the delay doubles on."""
        return self.quick_exits + self.spawn_failures

    def describe(self, now: float) -> SlotDescription:
        """What ``status --verbose`` shows of a waiting slot."""
        remaining = max(0.0, (self.retry_at or now) - now)
        return {
            "wid": self.wid,
            "quick_exits": self.quick_exits,
            "spawn_failures": self.spawn_failures,
            "delay": round(self.delay, 3),
            "retry_in": round(remaining, 3),
        }


class SlotBackoff:
    """The per-slot backoff state of one watcher.

    It never spawns anything itself: when a slot's wait is over it moves the
    slot's wid to the *ready* list and calls ``on_ready``; the watcher then
    spawns ready wids first (:meth:`take_ready`) before taking new ones.
    """

    def __init__(self, on_ready: Callable[[], None]) -> None:
        self._on_ready = on_ready
        self._records: dict[int, SlotRecord] = {}
        self._ready: list[int] = []  # heap of wids whose wait is over
        self._waiting = 0  # records with a pending timer

    def __repr__(self) -> str:
        return f"<SlotBackoff waiting={self._waiting} ready={len(self._ready)}>"

    # -- counts the watcher converges with -----------------------------------------

    @property
    def waiting(self) -> int:
        """Slots whose wait is not over: they must not be filled yet."""
        return self._waiting

    @property
    def ready(self) -> int:
        """Slots whose wait is over and whose wid awaits a spawn."""
        return len(self._ready)

    def take_ready(self) -> int | None:
        """The wid of a slot due for its retry (lowest first), or None."""
        return heapq.heappop(self._ready) if self._ready else None

    # -- what happened to a slot ---------------------------------------------------

    def quick_exit(self, wid: int, retry_in: float, backoff: bool) -> SlotRecord:
        """Its process exited within ``min_uptime``: the slot waits (wid reserved)."""
        record = self._record(wid)
        record.quick_exits += 1
        self._wait(record, retry_in, backoff)
        return record

    def spawn_failed(self, wid: int, retry_in: float, backoff: bool) -> SlotRecord:
        """Its spawn failed outright: the slot waits (wid reserved)."""
        record = self._record(wid)
        record.spawn_failures += 1
        self._wait(record, retry_in, backoff)
        return record

    def spawned(self, wid: int) -> None:
        """A spawn on this slot succeeded: its failed spawns are no longer in a row."""
        record = self._records.get(wid)
        if record is not None:
            record.spawn_failures = 0

    def forget(self, wid: int) -> None:
        """The slot's process stayed up ``min_uptime``, or circus stopped it: clean slate."""
        record = self._records.pop(wid, None)
        if record is not None and record.timer is not None:
            # Not reachable in practice (a waiting slot has no process), kept
            # so the waiting count can never drift.
            record.timer.cancel()
            self._waiting -= 1

    def trim(self, budget: int) -> list[int]:
        """Keep at most ``budget`` waiting or ready slots; return the wids let go.

        ``numprocesses`` went down: ready slots go first, then the ones with
        the longest wait left.
        """
        released: list[int] = []
        while self._ready and self._waiting + len(self._ready) > budget:
            wid = heapq.heappop(self._ready)
            self._records.pop(wid, None)
            released.append(wid)
        if self._waiting > budget:
            waiting = sorted((r for r in self._records.values() if r.timer is not None),
                             key=lambda r: r.retry_at or 0.0, reverse=True)
            for record in waiting[: self._waiting - budget]:
                self._drop(record)
                released.append(record.wid)
        return released

    def clear(self) -> list[int]:
        """Cancel every wait (the watcher stops); return the wids to release."""
        released = list(self._ready)
        self._ready.clear()
        for record in list(self._records.values()):
            if record.timer is not None:
                released.append(record.wid)
            self._drop(record)
        return released

    def describe(self) -> list[SlotDescription]:
        """The waiting slots, soonest retry first (for ``status --verbose``)."""
        now = asyncio.get_running_loop().time()
        waiting = [r for r in self._records.values() if r.timer is not None]
        waiting.sort(key=lambda r: r.retry_at or now)
        return [r.describe(now) for r in waiting]

    # -- internals -----------------------------------------------------------------

    def _record(self, wid: int) -> SlotRecord:
        record = self._records.get(wid)
        if record is None:
            record = self._records[wid] = SlotRecord(wid)
        return record

    def _wait(self, record: SlotRecord, retry_in: float, backoff: bool) -> None:
        record.delay = backoff_delay(retry_in, record.troubles) if backoff else 0.0
        loop = asyncio.get_running_loop()
        if record.timer is not None:  # defensive: one wait per slot
            record.timer.cancel()
            self._waiting -= 1
        record.retry_at = loop.time() + record.delay
        record.timer = loop.call_later(record.delay, self._due, record)
        self._waiting += 1

    def _due(self, record: SlotRecord) -> None:
        record.timer = None
        record.retry_at = None
        self._waiting -= 1
        heapq.heappush(self._ready, record.wid)
        self._on_ready()

    def _drop(self, record: SlotRecord) -> None:
        if record.timer is not None:
            record.timer.cancel()
            record.timer = None
            self._waiting -= 1
        self._records.pop(record.wid, None)
