"""Is circusd still there? The event connection's own heartbeats tell.

ZeroMQ reconnects the SUB and the DEALER by itself, so a plugin needs no
reconnect logic of its own; what it lacks is knowing. The SUB socket sends
ZMTP heartbeats every ``check_delay`` seconds (answered inside libzmq, on
both sides, without waking any Python code) and drops a connection that
stays silent for three of them; a socket monitor turns the connection's
life into events on the plugin's loop. So an idle plugin costs nothing
between events, yet a dead circusd or a cut link is noticed within a few
``check_delay`` and logged once, and so is its return, after which the
plugin's ``handle_reconnect()`` runs (events published meanwhile are lost).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import zmq
from circus.client import heartbeat_options as client_heartbeat_options
from zmq.utils.monitor import recv_monitor_message

if TYPE_CHECKING:
    from circus.plugins._base import CircusPlugin

log = logging.getLogger("circus.plugins")

FIRST_CONTACT_TIMEOUT = 3.0
"""Seconds after the start before "cannot reach circusd" is logged (at most call_timeout)."""

_HEARTBEATS_MISSED = 3  # silent heartbeat intervals before the connection counts as lost
_WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)


_RECONNECT_MAX = 0.5  # seconds: a lost circusd (or a tunnel not up yet) is retried this often


def reconnect_interval(check_delay: float) -> float:
    """Seconds between two connection attempts while circusd is away."""
    return min(max(check_delay, 0.1), _RECONNECT_MAX)


def heartbeat_options(check_delay: float) -> dict[int, int]:
    """The SUB socket options that make libzmq watch the connection every ``check_delay``."""
    return {**client_heartbeat_options(check_delay, _HEARTBEATS_MISSED),
            # Not check_delay: a first attempt that fails (an ssh tunnel still
            # starting) must not leave the plugin deaf for whole seconds.
            zmq.RECONNECT_IVL: int(reconnect_interval(check_delay) * 1000)}


class LinkWatch:
    """Logs losing and regaining circusd, from the monitor of the plugin's SUB socket."""

    def __init__(self, plugin: CircusPlugin, sub_socket: zmq.Socket[Any]) -> None:
        self.plugin = plugin
        self.interval = max(plugin.check_delay, 0.1)
        self.up: bool | None = None  # None: not connected yet
        self._sub = sub_socket
        self._monitor: zmq.Socket[Any] | None = sub_socket.get_monitor_socket(_WATCHED)
        self._first_contact: object | None = None

    def start(self) -> None:
        """Start watching (call on the plugin's loop)."""
        loop = self.plugin.loop
        assert self._monitor is not None
        loop.add_handler(self._monitor, self._on_monitor, loop.READ)
        timeout = min(self.plugin.call_timeout, FIRST_CONTACT_TIMEOUT)
        self._first_contact = loop.call_later(timeout, self._never_reached, timeout)
        self._on_monitor()  # events queued before the handler was added

    def _never_reached(self, timeout: float) -> None:
        self._first_contact = None
        if self.up is None:
            self._lost(f"no connection within {timeout:g}s")

    def _on_monitor(self, *_: object) -> None:
        while self._monitor is not None:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)["event"]
            except zmq.Again:
                return
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._found()
            elif event == zmq.EVENT_DISCONNECTED:
                self._lost("the connection dropped (circusd stopped, or no heartbeat "
                           f"for {self.interval * _HEARTBEATS_MISSED:g}s)")
            else:
                self._lost("the handshake failed (is this circusd's pubsub endpoint?)")

    def _lost(self, reason: str) -> None:
        if self.up is False:
            return  # reported once per outage
        verb = "lost contact with" if self.up else "cannot reach"
        log.warning("plugin %s: %s circusd at %s: %s; retrying every %gs", self.plugin._label(),
                    verb, self.plugin.endpoint, reason, reconnect_interval(self.interval))
        self.up = False

    def _found(self) -> None:
        was, self.up = self.up, True
        if was is not False:
            return
        label = self.plugin._label()
        log.info("plugin %s: circusd at %s answers again", label, self.plugin.endpoint)
        try:
            self.plugin.handle_reconnect()
        except Exception as exc:
            log.error("plugin %s: handle_reconnect failed: %s: %s", label,
                      type(exc).__name__, exc)

    def close(self) -> None:
        """Stop watching; the SUB socket stays the plugin's to close."""
        if self._first_contact is not None:
            self.plugin.loop.remove_timeout(self._first_contact)
            self._first_contact = None
        if self._monitor is None:
            return
        self.plugin.loop.remove_handler(self._monitor)
        with contextlib.suppress(zmq.ZMQError):  # the SUB socket is already closed
            self._sub.disable_monitor()
        self._monitor.close(linger=0)
        self._monitor = None
