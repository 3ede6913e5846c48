"""Taking a few events of every watcher instead of all of them.

A plugin subscribes to ``watcher.`` and so receives every event of every
watcher, and each one costs it a wake-up. One that needs a few kinds of
events (flapping: deaths, stops, option changes, removals) can instead
subscribe to ``watcher.<name>.<event>`` for each watcher and each kind, and
follow the set of watchers through ``arbiter.add``/``arbiter.remove``.
Only our circusd announces those; so this is switched on only once the
daemon has shown it is ours, and switched off again when the connection is
re-made (the daemon behind the endpoint may have changed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import zmq

if TYPE_CHECKING:
    from circus.plugins._base import CircusPlugin

log = logging.getLogger("circus.plugins")

ALL_WATCHERS = b"watcher."
ANNOUNCEMENTS = b"arbiter."


def topic_name(watcher_name: str) -> str:
    """A watcher's name as circusd's topics spell it: lowercased, spaces as ``_``."""
    return watcher_name.lower().replace(" ", "_")


class WatcherTopics:
    """The SUB subscriptions of a plugin that takes only ``events`` of each watcher."""

    def __init__(self, plugin: CircusPlugin, events: Iterable[str]) -> None:
        self.plugin = plugin
        self.events = tuple(events)
        self.narrow = False
        self._names: set[str] = set()

    def _set(self, option: int, topic: bytes) -> None:
        sock = self.plugin.sub_socket
        if sock is not None:
            sock.setsockopt(option, topic)

    def _topics(self, name: str) -> list[bytes]:
        return [f"watcher.{name}.{event}".encode() for event in self.events]

    def narrow_down(self) -> None:
        """Subscribe per watcher and drop ``watcher.`` (no-op when already done)."""
        if self.narrow or self.plugin.sub_socket is None:
            return
        # Announcements first, then the list: a watcher added in between is not missed.
        self._set(zmq.SUBSCRIBE, ANNOUNCEMENTS)
        try:
            reply = self.plugin.call("list")
        except Exception as exc:
            log.debug("cannot list the watchers (%s); keeping every event", exc)
            reply = {}
        names = reply.get("watchers") if reply.get("status") == "ok" else None
        if not isinstance(names, list):
            self._set(zmq.UNSUBSCRIBE, ANNOUNCEMENTS)
            return
        for name in names:
            self.follow(str(name))
        self._set(zmq.UNSUBSCRIBE, ALL_WATCHERS)
        self.narrow = True

    def follow(self, name: str) -> None:
        """Take the events of watcher ``name`` (as named by ``list`` or an announcement)."""
        name = topic_name(name)
        if name in self._names:
            return
        self._names.add(name)
        for topic in self._topics(name):
            self._set(zmq.SUBSCRIBE, topic)

    def forget(self, name: str) -> None:
        """Stop taking the events of watcher ``name``."""
        name = topic_name(name)
        if name not in self._names:
            return
        self._names.discard(name)
        for topic in self._topics(name):
            self._set(zmq.UNSUBSCRIBE, topic)

    def widen(self) -> None:
        """Back to every event of every watcher (no-op when not narrowed)."""
        if not self.narrow:
            return
        self._set(zmq.SUBSCRIBE, ALL_WATCHERS)
        for name in list(self._names):
            self.forget(name)
        self._set(zmq.UNSUBSCRIBE, ANNOUNCEMENTS)
        self.narrow = False
