"""Is circusd still there? A periodic ping that reports losing and regaining it.

ZeroMQ reconnects both the SUB and the DEALER by itself, so a plugin needs no
reconnect logic of its own; what it lacks is knowing. Every ``check_delay``
seconds a ``numwatchers`` call (cheap on every circusd) goes out on a client
of its own, in a one-thread executor so that an unreachable circusd never
blocks the plugin's loop. Losing and regaining circusd each log one line; on
regaining it the plugin's ``handle_reconnect()`` runs, since events published
meanwhile are lost.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from circus.client import CallTimeout, CircusClient, ClientError
from tornado.ioloop import PeriodicCallback

if TYPE_CHECKING:
    from circus.plugins._base import CircusPlugin

log = logging.getLogger("circus.plugins")

PING_TIMEOUT = 3.0
"""Seconds a liveness ping waits (at most the plugin's call_timeout)."""


class LinkWatch:
    """Pings circusd every ``plugin.check_delay`` seconds; logs state changes."""

    def __init__(self, plugin: CircusPlugin) -> None:
        self.plugin = plugin
        self.interval = max(plugin.check_delay, 0.1)
        self.timeout = min(plugin.call_timeout, PING_TIMEOUT)
        self.up: bool | None = None  # None: not known yet
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="circus-plugin-ping")
        self._client: CircusClient | None = None  # used from the executor thread only
        self._inflight = False
        self._timer = PeriodicCallback(self._tick, self.interval * 1000)

    def start(self) -> None:
        """Start pinging (call on the plugin's loop); the first ping goes out now."""
        self._timer.start()
        self._tick()

    def _tick(self) -> None:
        if self._inflight:
            return
        self._inflight = True
        future = self._executor.submit(self._ping)
        self.plugin.loop.add_future(future, self._done)

    def _ping(self) -> str | None:
        if self._client is None:
            self._client = CircusClient(self.plugin.endpoint, timeout=self.timeout,
                                        context=self.plugin.context,
                                        ssh_server=self.plugin.ssh_server)
        try:
            self._client.call("numwatchers")
        except ClientError as exc:
            # A fresh connection next time: no stale request queued for later.
            self._client.close()
            self._client = None
            if isinstance(exc, CallTimeout):
                return f"no reply within {self.timeout:g}s"
            # Keep the cause only: the endpoint is in our own line, the hints are circusctl's.
            reason = str(exc).split(";")[0]
            return reason.replace(f"cannot reach circusd at {self.plugin.endpoint}: ", "")
        return None

    def _done(self, future: Future[str | None]) -> None:
        self._inflight = False
        try:
            error = future.result()
        except Exception as exc:  # the executor was shut down under it
            error = str(exc)
        label = self.plugin._label()
        endpoint = self.plugin.endpoint
        if error is not None and self.up is not False:
            verb = "lost contact with" if self.up else "cannot reach"
            log.warning("plugin %s: %s circusd at %s: %s; retrying every %gs", label, verb,
                        endpoint, error, self.interval)
            self.up = False
        elif error is None and self.up is False:
            log.info("plugin %s: circusd at %s answers again", label, endpoint)
            self.up = True
            try:
                self.plugin.handle_reconnect()
            except Exception as exc:
                log.error("plugin %s: handle_reconnect failed: %s: %s", label,
                          type(exc).__name__, exc)
        elif error is None:
            self.up = True

    def close(self) -> None:
        """Stop pinging and close the ping client."""
        self._timer.stop()
        self._executor.shutdown(wait=True)
        if self._client is not None:
            self._client.close()
            self._client = None
