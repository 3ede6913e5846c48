"""One circusd's process readiness as the console shows it, between two polls.

Our circusd reports each process as ``starting``, ``ready`` or ``unhealthy``
(circus-core README, "Health checks and dependencies"). A poll brings every
state at once (``status`` with ``verbose``; upstream's circusd ignores the
property and sends no ``health``, and the pages then show no readiness).
Between polls, the ``ready`` and ``unhealthy`` events bring each change:
they are gathered for :data:`COALESCE` seconds and folded into the watchers
once, so a burst of them makes one snapshot, not one each. An event that
arrives while a poll is in flight may be newer than the poll's answer: it is
applied again on top of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

COALESCE = 0.05
"""Seconds readiness events are gathered before the pages get one snapshot for them all."""

STATES = frozenset(("starting", "ready", "unhealthy"))
"""The readiness states circusd reports; anything else is ignored."""

PROBE_OUTPUT = 1000
"""Characters of a failed probe's output kept for the pages."""

Watchers = dict[str, dict[str, Any]]


def health_map(states: object) -> dict[str, str] | None:
    """A watcher's ``{pid: state}`` from circusd, keeping only well-formed entries."""
    if not isinstance(states, Mapping):
        return None
    return {str(pid): state for pid, state in states.items()
            if isinstance(state, str) and state in STATES}


def unhealthy_record(pid: int, payload: Mapping[str, object]) -> dict[str, Any]:
    """What the pages show of a process found unhealthy: its pid, failures, probe output."""
    failures = payload.get("failures")
    stamp = payload.get("time")
    return {"pid": pid, "output": str(payload.get("output", ""))[:PROBE_OUTPUT],
            "failures": failures if isinstance(failures, int) else None,
            "time": float(stamp) if isinstance(stamp, (int, float)) else time.time()}


class Readiness:
    """The events between polls, and the last process found unhealthy per watcher.

    Args:
        on_flush: called (on the loop) when gathered events are ready to fold
            into the watchers with :meth:`fold`.
    """

    def __init__(self, on_flush: Callable[[], None]) -> None:
        self._on_flush = on_flush
        self._seen: list[tuple[str, str, str]] | None = None  # None: no poll in flight
        self._pending: dict[str, dict[str, str]] = {}
        self._last_unhealthy: dict[str, dict[str, Any]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def begin_poll(self) -> None:
        """A poll starts: remember the events from now on, to apply again to its answer."""
        self._seen = []

    def annotate(self, watchers: Watchers, health: object) -> None:
        """Add each watcher's ``health`` (from the poll's ``status`` reply) and ``last_unhealthy``.

        Ends the poll: the events seen during it are applied on top.
        """
        seen, self._seen = self._seen or [], None
        by_watcher = health if isinstance(health, Mapping) else {}
        for name, entry in watchers.items():
            states = health_map(by_watcher.get(name))
            if states is not None:
                entry["health"] = states
            if name in self._last_unhealthy:
                entry["last_unhealthy"] = self._last_unhealthy[name]
        for name, pid, state in seen:
            states = watchers.get(name, {}).get("health")
            if states is not None:
                states[pid] = state
        self._last_unhealthy = {name: record for name, record in self._last_unhealthy.items()
                                if name in watchers}

    def abort_poll(self) -> None:
        """The poll failed: stop remembering events for it."""
        self._seen = None

    def apply(self, name: str, state: str, payload: Mapping[str, object]) -> None:
        """Take one ``ready`` or ``unhealthy`` event of watcher ``name``."""
        pid = payload.get("process_pid")
        if not isinstance(pid, int) or isinstance(pid, bool):
            return
        if self._seen is not None:
            self._seen.append((name, str(pid), state))
        if state == "unhealthy":
            self._last_unhealthy[name] = unhealthy_record(pid, payload)
        self._pending.setdefault(name, {})[str(pid)] = state
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(COALESCE, self._flush)

    def _flush(self) -> None:
        self._timer = None
        self._on_flush()

    def fold(self, watchers: Watchers) -> Watchers:
        """``watchers`` with the gathered events applied, as new dicts.

        Copies, never in-place changes: the last snapshot sent shares these
        dicts, and the change must show when the snapshots are compared.
        """
        pending, self._pending = self._pending, {}
        folded = dict(watchers)
        for name, states in pending.items():
            if name not in folded:
                continue
            entry = dict(folded[name])
            if "health" in entry:
                entry["health"] = {**entry["health"], **states}
            if name in self._last_unhealthy:
                entry["last_unhealthy"] = self._last_unhealthy[name]
            folded[name] = entry
        return folded

    def close(self) -> None:
        """Cancel a flush still to come."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
