"""Flapping: stop a watcher whose processes keep dying, retry later, give up at last.

Options (each overridable per watcher with a ``flapping.`` prefix in its
section, e.g. ``flapping.max_retry = 2``; ``flapping.active = false`` or the
watcher option ``check_flapping = false`` leaves a watcher alone):

* ``attempts`` (2): that many deaths within ``window`` seconds is flapping;
* ``window`` (1): seconds;
* ``retry_in`` (7): seconds before the stopped watcher is started again;
* ``max_retry`` (5): retries before the watcher is left stopped; -1 retries forever.

Where ours differs from upstream (#965, #809, #1155, #604):

* Only crashes count. A death that circus caused (a ``stop``, ``restart``,
  ``reload``, ``kill`` or ``decr``: circusd announces each with a ``kill``
  event before the ``reap``; a reap flagged ``commanded``) is ignored, so a
  watcher stopped on purpose is never "restarted 7 s later".
* The window is the window: upstream subtracted its own ``check_delay``
  (5 s by default) from the time span, which made any two deaths within
  about 6 s count as flapping.
* Against our circusd it receives only the events it uses (see
  :mod:`circus.plugins._topics`), not every event of every watcher.
* The retry is a timer on the plugin's loop; upstream cast ``start`` from a
  ``threading.Timer`` thread on a ZeroMQ socket that is not thread-safe.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from circus.plugins._actions import act
from circus.plugins._base import CircusPlugin
from circus.plugins._options import ConfigError, Options
from circus.plugins._topics import ANNOUNCEMENTS, WatcherTopics

__all__ = ["Flapping"]

log = logging.getLogger("circus.plugins.flapping")

# The events read once the daemon flags commanded deaths (kills are not needed then).
_EVENTS_USED = ("reap", "stop", "updated", "remove")

# A kill event older than this no longer marks the coming reap as commanded.
_KILL_MEMORY = 120.0


@dataclass
class _Settings:
    attempts: int
    window: float
    retry_in: float
    max_retry: int
    active: bool = True


@dataclass
class _WatcherState:
    settings: _Settings | None = None  # None: to fetch with `options`
    deaths: deque[float] = field(default_factory=deque)
    tries: int = 0
    retry: Any = None  # the loop timeout handle of a pending start


def _read_settings(label: str, config: dict[str, Any], base: _Settings | None) -> _Settings:
    options = Options(label, config)
    defaults = base or _Settings(2, 1.0, 7.0, 5)
    settings = _Settings(
        attempts=options.integer("attempts", defaults.attempts, minimum=1),
        window=options.number("window", defaults.window, minimum=0),
        retry_in=options.number("retry_in", defaults.retry_in, minimum=0),
        max_retry=options.integer("max_retry", defaults.max_retry, minimum=-1),
        active=options.boolean("active", defaults.active),
    )
    return settings


class Flapping(CircusPlugin):
    """Stops watchers whose processes die ``attempts`` times within ``window`` seconds."""

    name = "flapping"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        self.defaults = _read_settings(self._label(), config, None)
        self.watchers: dict[str, _WatcherState] = {}
        self.killed: dict[int, float] = {}  # pid -> when circusd announced killing it
        self.clock = time.monotonic
        self.topics = WatcherTopics(self, _EVENTS_USED)

    # -- events ----------------------------------------------------------------

    def handle_recv(self, data: list[bytes]) -> None:
        """Track kills, deaths and option updates."""
        if data[0].startswith(ANNOUNCEMENTS):
            self._announced(data)
            return
        watcher_name, action, msg = self.split_data(data)
        if watcher_name.startswith("plugin:") and watcher_name == str(self.config.get("name")):
            return
        if action == "kill":
            pid = self.load_message(msg).get("process_pid")
            if isinstance(pid, int):
                self.killed[pid] = self.clock()
        elif action == "reap":
            payload = self.load_message(msg)
            if "commanded" in payload:
                # A daemon that flags commanded deaths announces its watchers
                # too: from now on only the events used here are received.
                self.topics.narrow_down()
            self._reaped(watcher_name, payload)
        elif action == "updated":
            self.state(watcher_name).settings = None  # refetch on the next death
        elif action == "stop":
            # Deaths before a stop do not carry over to the next run.
            self.state(watcher_name).deaths.clear()
        elif action == "remove":
            self._forget(watcher_name)

    def _announced(self, data: list[bytes]) -> None:
        name = self.load_message(data[1]).get("name")
        if not isinstance(name, str):
            return
        if data[0] == ANNOUNCEMENTS + b"add":
            self.topics.follow(name)
        elif data[0] == ANNOUNCEMENTS + b"remove":
            self.topics.forget(name)
            self._forget(name)

    def handle_reconnect(self) -> None:
        """Take every event again: the daemon (and its watchers) may have changed."""
        self.topics.widen()

    def state(self, watcher_name: str) -> _WatcherState:
        """The tracking state of one watcher."""
        return self.watchers.setdefault(watcher_name, _WatcherState())

    def _reaped(self, watcher_name: str, payload: dict[str, Any]) -> None:
        now = self.clock()
        pid = payload.get("process_pid")
        killed_at = self.killed.pop(pid, None) if isinstance(pid, int) else None
        self._expire_kills(now)
        if payload.get("commanded") or killed_at is not None:
            return  # circus ended it on purpose: not a crash
        state = self.state(watcher_name)
        settings = self._settings(watcher_name, state)
        if settings is None or not settings.active:
            return
        state.deaths.append(now)
        while len(state.deaths) > settings.attempts:
            state.deaths.popleft()
        if len(state.deaths) < settings.attempts:
            return
        if state.deaths[-1] - state.deaths[0] <= settings.window:
            if self._being_stopped(watcher_name):
                state.deaths.clear()
                return
            self._flapping(watcher_name, state, settings)
        elif state.deaths[-1] - state.deaths[-2] > settings.window:
            state.tries = 0  # calm for a whole window: a fresh start

    def _being_stopped(self, watcher_name: str) -> bool:
        """True if circusd is stopping (or has stopped) the watcher: the deaths were asked for.

        The check behind the ``kill`` events, for when those were missed (a
        subscription still settling, a dropped event): only a running watcher flaps.
        """
        try:
            status = self.call("status", name=watcher_name).get("status")
        except Exception:
            return False  # cannot tell: the deaths speak for themselves
        return status in ("stopping", "stopped")

    def _expire_kills(self, now: float) -> None:
        if len(self.killed) > 64:
            for pid in [p for p, when in self.killed.items() if now - when > _KILL_MEMORY]:
                del self.killed[pid]

    # -- decisions -------------------------------------------------------------

    def _flapping(self, watcher_name: str, state: _WatcherState, settings: _Settings) -> None:
        state.deaths.clear()
        if settings.max_retry == -1 or state.tries < settings.max_retry:
            state.tries += 1
            log.info("%s: flapping detected (%d deaths within %gs): stopping it, retry in "
                     "%gs (attempt %d)", watcher_name, settings.attempts, settings.window,
                     settings.retry_in, state.tries)
            self.command("stop", watcher_name,
                         f"flapping: {settings.attempts} deaths within {settings.window:g}s, "
                         f"retry in {settings.retry_in:g}s")
            if state.retry is not None:
                self.loop.remove_timeout(state.retry)
            state.retry = self.loop.call_later(settings.retry_in, self._retry, watcher_name)
        else:
            log.info("%s: flapping detected and the max retry limit (%d) is reached: "
                     "stopping it for good", watcher_name, settings.max_retry)
            state.tries = 0
            self.command("stop", watcher_name,
                         f"flapping: {settings.attempts} deaths within {settings.window:g}s, "
                         f"max_retry ({settings.max_retry}) reached")

    def _retry(self, watcher_name: str) -> None:
        state = self.watchers.get(watcher_name)
        if state is None:
            return
        state.retry = None
        log.info("%s: starting it again after flapping", watcher_name)
        self.command("start", watcher_name, "flapping: retry after the pause")

    def command(self, command: str, watcher_name: str, reason: str = "") -> None:
        """Send ``stop``/``start`` for a watcher (a call, retried while circusd is busy)."""
        act(self, command, name=watcher_name, reason=reason)

    def _forget(self, watcher_name: str) -> None:
        state = self.watchers.pop(watcher_name, None)
        if state is not None and state.retry is not None:
            self.loop.remove_timeout(state.retry)

    def _settings(self, watcher_name: str, state: _WatcherState) -> _Settings | None:
        if state.settings is None:
            state.settings = self._fetch_settings(watcher_name)
        return state.settings

    def _fetch_settings(self, watcher_name: str) -> _Settings | None:
        """The plugin's settings with the watcher's ``flapping.*`` overrides applied."""
        reply = self.call("options", name=watcher_name)
        if reply.get("status") == "error":
            log.warning("%s: cannot read its options: %s", watcher_name, reply.get("reason"))
            return self.defaults
        options = reply.get("options") or {}
        check = options.get("check_flapping", True)
        if check is False or str(check).lower() in ("false", "0", "no", "off"):
            return _Settings(0, 0, 0, 0, active=False)
        overrides = {key[len("flapping."):]: value for key, value in options.items()
                     if isinstance(key, str) and key.startswith("flapping.")}
        try:
            return _read_settings(f"{self._label()} (watcher {watcher_name})",
                                  {k: str(v) for k, v in overrides.items()}, self.defaults)
        except ConfigError as exc:
            log.error("%s; using the plugin's own settings", exc)
            return self.defaults

    def handle_stop(self) -> None:
        """Cancel pending retries."""
        for state in self.watchers.values():
            if state.retry is not None:
                self.loop.remove_timeout(state.retry)
                state.retry = None
