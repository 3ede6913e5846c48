"""The plugin runtime: :class:`CircusPlugin`.

A plugin is one process with one tornado IOLoop (``self.loop``, an asyncio
loop underneath). On it run:

* a SUB socket on circusd's event channel (prefix ``watcher.``), read by an
  :class:`~circus.plugins._reader.EventReader` that hands each event to
  :meth:`handle_recv` and calls :meth:`handle_drained` after each batch;
* a blocking :class:`circus.client.CircusClient` for :meth:`call`/:meth:`cast`
  (upstream's ``call`` blocks the loop; ours does too, but within a timeout);
* heartbeats on the SUB connection every ``check_delay`` seconds, exchanged by
  libzmq itself, and a monitor that logs once when circusd is lost and once
  when it is back (ZeroMQ reconnects by itself; nothing spins or polls).

Everything touches the sockets from the loop's thread only: :meth:`stop` may
be called from any thread or from a signal, and hops onto the loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any

import zmq
from circus.client import CallTimeout, CircusClient, ClientError, ConnectionFailed, CurveKeys
from circus.plugins._options import Options
from tornado.ioloop import IOLoop

log = logging.getLogger("circus.plugins")

DEFAULT_CALL_TIMEOUT = 5.0
"""Seconds :meth:`CircusPlugin.call` waits for a reply (config key ``call_timeout``)."""


class PluginCallTimeout(CallTimeout):
    """:meth:`CircusPlugin.call` got no reply from circusd within the plugin's timeout."""

    def __init__(self, endpoint: str, timeout: float, command: str) -> None:
        super().__init__(endpoint, timeout, command)
        self.args = (
            f"no reply from circusd at {endpoint} to {command!r} within {timeout:g}s "
            "(is circusd running and reachable? raise the plugin's call_timeout option "
            "if the command is slow)",
        )


class CircusPlugin:
    """Base class of every plugin: events in, commands out.

    Subclasses implement :meth:`handle_recv` and may override
    :meth:`handle_init` and :meth:`handle_stop`. Periodic work is scheduled
    on ``self.loop`` (e.g. ``tornado.ioloop.PeriodicCallback`` started from
    :meth:`handle_init`, which runs on the loop).

    Args:
        endpoint: circusd's control endpoint.
        pubsub_endpoint: circusd's event (PUB) endpoint.
        check_delay: seconds between two heartbeats on the event connection.
        ssh_server: ``user@host:port`` to reach both endpoints through ssh.
        **config: the plugin's options, as strings; ``active`` (default true)
            and ``call_timeout`` (seconds, default 5) are read here.

    Attributes:
        name: the plugin's name (class attribute; names its logger).
        config: the options mapping.
        active: False when the config says ``active = false``.
        running: True between a successful start and :meth:`stop`.
        loop: the plugin's tornado ``IOLoop``.
    """

    name = ""
    curve: CurveKeys | None = None
    """CURVE keys for a circusd that requires them; ``circus-plugin`` sets it from
    ``--curve-server-key``/``--curve-key`` before :meth:`start` (an attribute, not a
    constructor argument, so plugins written for upstream's signature keep working)."""
    hold_events = 0.0
    """Seconds events may queue after a batch, so that a steady stream costs a
    wake-up per period instead of one per event (0: each event at once)."""

    def __init__(
        self,
        endpoint: str,
        pubsub_endpoint: str,
        check_delay: float,
        ssh_server: str | None = None,
        **config: Any,
    ) -> None:
        self.daemon = True
        self.config = config
        options = Options(str(config.get("name") or self.name or type(self).__name__), config)
        self.active = options.boolean("active", True)
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.check_delay = float(check_delay)
        self.ssh_server = ssh_server
        self.call_timeout = options.number("call_timeout", DEFAULT_CALL_TIMEOUT, positive=True)
        self.running = False
        # Not made current: a plugin built outside any loop must not replace (and leak)
        # the thread's asyncio loop; on its own loop it is current anyway.
        self.loop = IOLoop(make_current=False)
        self.context: zmq.Context[Any] | None = None
        self.client: CircusClient | None = None
        self.sub_socket: zmq.Socket[Any] | None = None
        self._loop_thread: int | None = None
        self._started = False
        self._boot_error: BaseException | None = None
        self._link: Any = None  # circus.plugins._link.LinkWatch, made by initialize()
        self._reader: Any = None  # circus.plugins._reader.EventReader, made by initialize()

    # -- hooks for subclasses -------------------------------------------------

    def handle_init(self) -> None:
        """Called once on the plugin's loop, after the connections are set up."""

    def handle_recv(self, data: list[bytes]) -> None:
        """Called for every event: ``data`` is ``[topic, json_body]`` as bytes."""
        raise NotImplementedError()

    def handle_stop(self) -> None:
        """Called on the loop right before the plugin stops (also on SIGTERM)."""

    def handle_drained(self) -> None:
        """Called after :meth:`handle_recv` has had every event queued so far.

        A plugin that batches its output (statsd counters) sends it here.
        """

    def handle_reconnect(self) -> None:
        """Called when circusd answers again after it stopped answering.

        Events published while it was unreachable are lost: override this to
        resynchronise (e.g. list the processes again).
        """

    # -- talking to circusd ----------------------------------------------------

    def call(self, command: str, **props: Any) -> Mapping[str, Any]:
        """Send ``command`` to circusd and return its reply (blocking).

        Error replies are returned as dicts (``"status": "error"``), as upstream did.

        Raises:
            PluginCallTimeout: no reply within ``call_timeout`` seconds.
            ConnectionFailed: nothing listens at the endpoint.
        """
        client = self._client()
        try:
            return client.call(command, **props)
        except CallTimeout:
            # Drop the queued request: it must not run late when circusd is back.
            client.close()
            raise PluginCallTimeout(self.endpoint, self.call_timeout, command) from None

    def cast(self, command: str, **props: Any) -> None:
        """Send ``command`` to circusd without waiting for a reply.

        Raises:
            ConnectionFailed: nothing listens at the endpoint.
        """
        self._client().cast(command, **props)

    def _client(self) -> CircusClient:
        if self.client is None:
            if self.context is None:
                self.context = zmq.Context()
            self.client = CircusClient(self.endpoint, timeout=self.call_timeout,
                                       context=self.context, ssh_server=self.ssh_server,
                                       curve=self.curve)
        return self.client

    # -- decoding events -------------------------------------------------------

    @staticmethod
    def split_data(data: list[bytes] | tuple[bytes, bytes]) -> tuple[str, str, bytes]:
        """``(watcher_name, action, body)`` from a ``[topic, body]`` event.

        The topic is ``watcher.<name>.<action>``; a name holding dots stays whole.
        """
        topic, msg = data[0], data[1]
        text = topic.decode("utf-8", "replace") if isinstance(topic, bytes) else str(topic)
        parts = text.split(".")
        if len(parts) < 3:
            return (parts[1] if len(parts) > 1 else ""), "", msg
        return ".".join(parts[1:-1]), parts[-1], msg

    @staticmethod
    def load_message(msg: bytes | str) -> Any:
        """Decode an event body (JSON)."""
        return json.loads(msg)

    # -- life cycle ------------------------------------------------------------

    def initialize(self) -> None:
        """Open the connections to circusd (called by :meth:`start`, on the loop)."""
        from circus.client import open_sub
        from circus.plugins._link import LinkWatch, heartbeat_options
        from circus.plugins._reader import EventReader

        if self.context is None:
            self.context = zmq.Context()
        self._client()
        self.sub_socket = open_sub(self.context, self.pubsub_endpoint, ["watcher."],
                                   ssh_server=self.ssh_server, curve=self.curve,
                                   options={**heartbeat_options(self.check_delay),
                                            # Room for a burst that queues while events are held.
                                            zmq.RCVHWM: 100_000})
        self._link = LinkWatch(self, self.sub_socket)
        self._link.start()
        self._reader = EventReader(self.loop, self.sub_socket, self._dispatch,
                                   self._drained, hold=self.hold_events)
        self._reader.start()

    def start(self) -> None:
        """Run the plugin until :meth:`stop` (or SIGTERM/SIGINT, when in the main thread).

        Raises:
            ValueError: the plugin is inactive (``active = false``).
            Exception: whatever :meth:`handle_init` or the connection set-up raised.
        """
        if not self.active:
            raise ValueError("will not start an inactive plugin (active = false)")
        self._started = True
        self._loop_thread = threading.get_ident()
        handled = self._install_signal_handlers()
        self.loop.add_callback(self._boot)
        try:
            self.loop.start()
        finally:
            # Handlers stay until the end: a second SIGTERM must not interrupt the teardown.
            self._teardown()
            self._remove_signal_handlers(handled)
            with contextlib.suppress(Exception):
                self.loop.close(all_fds=False)
        if self._boot_error is not None:
            raise self._boot_error

    def _boot(self) -> None:
        try:
            self.initialize()
            self.handle_init()
        except BaseException as exc:
            self._boot_error = exc
            self.loop.stop()
            return
        self.running = True

    def stop(self) -> None:
        """Stop the plugin: :meth:`handle_stop`, then the loop. Safe from any thread."""
        if not self._started:
            self._teardown()  # call() may have opened a client without a start
            self.loop.close(all_fds=False)
            return
        if threading.get_ident() == self._loop_thread:
            self._stop_on_loop()
        else:
            self.loop.add_callback(self._stop_on_loop)

    def _stop_on_loop(self) -> None:
        if not self.running:
            self.loop.stop()
            return
        self.running = False
        try:
            self.handle_stop()
        except Exception as exc:
            log.error("plugin %s: handle_stop failed: %s: %s", self._label(),
                      type(exc).__name__, exc)
        finally:
            self.loop.stop()

    def _dispatch(self, frames: list[bytes]) -> None:
        if not self.running:
            return
        try:
            self.handle_recv(frames)
        except Exception as exc:
            topic = frames[0].decode("utf-8", "replace") if frames else "?"
            log.error("plugin %s: handle_recv failed on %s: %s: %s", self._label(), topic,
                      type(exc).__name__, exc)
            log.debug("handle_recv traceback", exc_info=True)

    def _drained(self) -> None:
        if not self.running:
            return
        try:
            self.handle_drained()
        except Exception as exc:
            log.error("plugin %s: handle_drained failed: %s: %s", self._label(),
                      type(exc).__name__, exc)

    def _label(self) -> str:
        return str(self.config.get("name") or self.name or type(self).__name__)

    def _install_signal_handlers(self) -> list[int]:
        if threading.current_thread() is not threading.main_thread():
            return []
        asyncio_loop = self.loop.asyncio_loop
        handled: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio_loop.add_signal_handler(signum, self.stop)
            handled.append(signum)
        return handled

    def _remove_signal_handlers(self, handled: list[int]) -> None:
        asyncio_loop = self.loop.asyncio_loop
        for signum in handled:
            asyncio_loop.remove_signal_handler(signum)

    def _teardown(self) -> None:
        self.running = False
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.sub_socket is not None:
            self.sub_socket.close(linger=0)
            self.sub_socket = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.context is not None:
            self.context.term()
            self.context = None
        if self.ssh_server is not None:
            from circus.client import close_ssh_tunnels

            # The event socket's tunnel is a forked process the exit would wait for.
            close_ssh_tunnels()


__all__ = ["DEFAULT_CALL_TIMEOUT", "CircusPlugin", "ClientError", "ConnectionFailed",
           "PluginCallTimeout"]
