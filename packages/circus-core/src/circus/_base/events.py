"""The in-process event bus.

Watchers and the arbiter publish lifecycle events here (spawn, reap, kill,
start, stop, reload, updated, add, remove, hook_success, hook_failure). The
control-channel issue subscribes a ZMQ PUB socket to it; tests subscribe a
list. Publishing never blocks: handlers run synchronously and must be cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("circus")

EventPayload = dict[str, object]
"""An event's payload: JSON-ready values (pids, times, names, exit codes)."""

EventHandler = Callable[[str, EventPayload], None]
"""A subscriber: called with the topic (``watcher.<name>.<event>``) and the payload."""


def topic_name(watcher_name: str) -> str:
    """A watcher's name as its topics spell it: lowercased, spaces as ``_``."""
    return watcher_name.lower().replace(" ", "_")


def event_topic(watcher_name: str, event: str) -> str:
    """Return upstream's topic for an event: ``watcher.<lowercased name>.<event>``."""
    return f"watcher.{topic_name(watcher_name)}.{event}"


class EventBus:
    """Fan-out of events to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Add a handler; return a function that removes it again."""
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return unsubscribe

    def publish(self, watcher_name: str, event: str, payload: EventPayload) -> None:
        """Send ``payload`` (a ``time`` key is added if absent) to every handler."""
        self.publish_topic(event_topic(watcher_name, event), payload)

    def publish_topic(self, topic: str, payload: EventPayload) -> None:
        """:meth:`publish` for a topic outside ``watcher.<name>.`` (``arbiter.add``)."""
        payload.setdefault("time", time.time())
        for handler in tuple(self._handlers):
            try:
                handler(topic, payload)
            except Exception:
                # A broken subscriber must never take the daemon down.
                logger.exception("event handler %r failed on %s", handler, topic)
