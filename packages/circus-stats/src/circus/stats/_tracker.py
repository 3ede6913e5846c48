"""Which pids belong to which watcher, and how ready each is, kept current from circusd's events.

The events are the fast path; ``list`` replies (bootstrap and periodic
resyncs) replace a watcher's pids wholesale, which heals any event lost while
the SUB socket was reconnecting.

Readiness (our circusd's health checks) follows the same two sources: a
process is ``starting`` from its ``spawn`` if its watcher has a ``check``,
``ready`` at once otherwise; ``ready`` and ``unhealthy`` events move it on;
a ``list`` reply's ``health`` (sent only for a watcher with a ``check``)
replaces the states and tells which watchers have one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_PREFIX = "watcher."
_KILLED_MEMORY = 10_000  # kills whose reap never comes (decr, kill) must not grow forever

STARTING, READY, UNHEALTHY = "starting", "ready", "unhealthy"
HEALTH_STATES = frozenset((STARTING, READY, UNHEALTHY))
"""The states circusd reports; anything else from the wire is ignored."""

_GONE = ""  # a journal entry's state for a pid that went away


def parse_topic(topic: str) -> tuple[str, str] | None:
    """``(watcher, event)`` from ``watcher.<name>.<event>``, or ``None`` if malformed.

    The name is everything between ``watcher.`` and the last dot, so dotted
    watcher names survive (upstream took the second dot-field).
    """
    if not topic.startswith(_PREFIX):
        return None
    name, dot, event = topic[len(_PREFIX) :].rpartition(".")
    if not dot or not name or not event:
        return None
    return name, event


class PidTracker:
    """Per-watcher pids with their readiness, plus the history Prometheus reports.

    ``pids[watcher]`` maps each pid, in spawn order, to its state
    (:data:`HEALTH_STATES`). The states mean something only once
    ``reports_health`` is true: circusd answered ``status`` with a ``health``
    key, or published a readiness event (upstream's circusd does neither).
    ``wanted`` holds the watchers whose pids should be (re)learned with
    ``list name=X``: new ones from ``add``/``start`` events, and those whose
    ``check`` option changed.
    """

    def __init__(self) -> None:
        self.pids: dict[str, dict[int, str]] = {}  # a dict keeps spawn order
        self.restarts: dict[str, int] = {}
        self.last_exit_code: dict[str, int] = {}
        self.unhealthy: dict[str, int] = {}
        self.checked: set[str] = set()
        self.reports_health = False
        self.wanted: set[str] = set()
        self._killed: dict[int, None] = {}
        self._journals: dict[str, list[tuple[int, str]]] = {}

    def apply(self, topic: str, payload: Mapping[str, object]) -> bool:
        """Update from one event; ``False`` if the topic or payload was malformed."""
        parsed = parse_topic(topic)
        if parsed is None:
            return False
        name, event = parsed
        pid = payload.get("process_pid")
        if event in ("spawn", "reap", "kill", READY, UNHEALTHY):
            if not isinstance(pid, int) or isinstance(pid, bool):
                return False
            self._process_event(name, event, pid, payload)
        elif event == "stop":
            self.pids[name] = {}
        elif event == "remove":
            self.forget(name)
        elif event in ("add", "start"):
            self.pids.setdefault(name, {})
            self.wanted.add(name)
        elif event == "updated" and payload.get("key") == "check":
            self.wanted.add(name)  # the list reply says whether it has a check now
        return True

    def _process_event(self, name: str, event: str, pid: int,
                       payload: Mapping[str, object]) -> None:
        journal = self._journals.get(name)
        if journal is not None:
            journal.append((pid, event if event in ("spawn", READY, UNHEALTHY) else _GONE))
        pids = self.pids.setdefault(name, {}) if event == "spawn" else self.pids.get(name, {})
        if event == "spawn":
            pids[pid] = STARTING if name in self.checked else READY
        elif event == "kill":
            pids.pop(pid, None)
            self._remember_kill(pid)
        elif event == "reap":
            self._reaped(name, pid, payload.get("exit_code"))
        else:
            self.reports_health = True
            if event == UNHEALTHY:
                self.unhealthy[name] = self.unhealthy.get(name, 0) + 1
            if pid in pids:  # a late event for a pid already gone adds nothing
                pids[pid] = event

    def _remember_kill(self, pid: int) -> None:
        self._killed[pid] = None
        if len(self._killed) > _KILLED_MEMORY:
            del self._killed[next(iter(self._killed))]

    def _reaped(self, name: str, pid: int, exit_code: object) -> None:
        self.pids.get(name, {}).pop(pid, None)
        if self._killed.pop(pid, "alive") == "alive":  # nobody asked it to go: it died
            self.restarts[name] = self.restarts.get(name, 0) + 1
        if isinstance(exit_code, int) and not isinstance(exit_code, bool):
            self.last_exit_code[name] = exit_code

    def forget(self, name: str) -> None:
        """Stop tracking a watcher that was removed."""
        self.pids.pop(name, None)
        self.restarts.pop(name, None)
        self.last_exit_code.pop(name, None)
        self.unhealthy.pop(name, None)
        self.checked.discard(name)
        self.wanted.discard(name)

    def learn_reports_health(self, status_reply: Mapping[str, object]) -> None:
        """Note whether circusd reports readiness, from its ``status`` reply with ``verbose``."""
        self.reports_health = isinstance(status_reply.get("health"), dict)

    def replace_watchers(self, names: Iterable[str]) -> None:
        """Make the watcher set exactly ``names`` (from a ``list`` reply)."""
        names = set(names)
        for gone in set(self.pids) - names:
            self.forget(gone)
        for name in names:
            self.pids.setdefault(name, {})

    def begin_sync(self, name: str) -> None:
        """Start journaling ``name``'s pid events while its ``list`` call is in flight."""
        self._journals[name] = []

    def end_sync(self, name: str, pids: Iterable[int] | None,
                 health: Mapping[str, object] | None = None) -> None:
        """Make ``name``'s pids the ``list name=X`` reply ``pids``, then replay the journal.

        ``health`` is the reply's ``health`` (states by pid): present, the
        watcher has a ``check`` and its states are taken from it; absent, it
        has none and its processes are ready. Events and replies travel on
        different sockets, so an event seen during the call may be newer than
        the reply: replaying keeps it. ``pids=None`` (the call failed) only
        stops the journal.
        """
        journal = self._journals.pop(name, [])
        if pids is None:
            return
        if health is None:
            self.checked.discard(name)
        else:
            self.checked.add(name)
        spawned = STARTING if health is not None else READY
        current: dict[int, str] = {}
        for pid in pids:
            state = health.get(str(pid)) if health is not None else READY
            current[pid] = state if isinstance(state, str) and state in HEALTH_STATES \
                else spawned
        for pid, event in journal:
            if event == "spawn":
                current[pid] = spawned
            elif event == _GONE:
                current.pop(pid, None)
            elif pid in current:
                current[pid] = event
        self.pids[name] = current
        self.wanted.discard(name)

    def drop(self, name: str, pid: int) -> None:
        """Forget a pid found gone at a tick (its events were lost)."""
        self.pids.get(name, {}).pop(pid, None)
