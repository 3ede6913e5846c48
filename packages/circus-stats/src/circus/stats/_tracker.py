"""Which pids belong to which watcher, kept current from circusd's events.

The events are the fast path; ``list`` replies (bootstrap and periodic
resyncs) replace a watcher's pids wholesale, which heals any event lost while
the SUB socket was reconnecting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_PREFIX = "watcher."
_KILLED_MEMORY = 10_000  # kills whose reap never comes (decr, kill) must not grow forever


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
    """Per-watcher pid sets plus the exit history Prometheus reports.

    ``wanted`` holds the watchers whose pids should be (re)learned with
    ``list name=X``: new ones from ``add``/``start`` events.
    """

    def __init__(self) -> None:
        self.pids: dict[str, dict[int, None]] = {}  # a dict keeps spawn order
        self.restarts: dict[str, int] = {}
        self.last_exit_code: dict[str, int] = {}
        self.wanted: set[str] = set()
        self._killed: dict[int, None] = {}
        self._journals: dict[str, list[tuple[int, bool]]] = {}

    def apply(self, topic: str, payload: Mapping[str, object]) -> bool:
        """Update from one event; ``False`` if the topic or payload was malformed."""
        parsed = parse_topic(topic)
        if parsed is None:
            return False
        name, event = parsed
        pid = payload.get("process_pid")
        if event in ("spawn", "reap", "kill"):
            if not isinstance(pid, int) or isinstance(pid, bool):
                return False
            journal = self._journals.get(name)
            if journal is not None:
                journal.append((pid, event == "spawn"))
            if event == "spawn":
                self.pids.setdefault(name, {})[pid] = None
            elif event == "kill":
                self.pids.get(name, {}).pop(pid, None)
                self._remember_kill(pid)
            else:
                self._reaped(name, pid, payload.get("exit_code"))
        elif event == "stop":
            self.pids[name] = {}
        elif event == "remove":
            self.forget(name)
        elif event in ("add", "start"):
            self.pids.setdefault(name, {})
            self.wanted.add(name)
        return True

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
        self.wanted.discard(name)

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

    def end_sync(self, name: str, pids: Iterable[int] | None) -> None:
        """Make ``name``'s pids the ``list name=X`` reply ``pids``, then replay the journal.

        Events and replies travel on different sockets, so an event seen
        during the call may be newer than the reply: replaying keeps it.
        ``pids=None`` (the call failed) only stops the journal.
        """
        journal = self._journals.pop(name, [])
        if pids is None:
            return
        current = dict.fromkeys(pids)
        for pid, alive in journal:
            if alive:
                current[pid] = None
            else:
                current.pop(pid, None)
        self.pids[name] = current
        self.wanted.discard(name)

    def drop(self, name: str, pid: int) -> None:
        """Forget a pid found gone at a tick (its events were lost)."""
        self.pids.get(name, {}).pop(pid, None)
