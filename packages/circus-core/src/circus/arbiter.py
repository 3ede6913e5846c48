"""The arbiter owns every watcher of a circusd (``circus.arbiter.Arbiter``).

It starts watchers by priority, highest first, each one fully started before
the next; it stops them lowest first, each one fully stopped before the next.
It also owns the reaper and the event bus the watchers share. The control
channel, sockets, stats and plugins attach to it in their own modules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import io
import logging
import logging.handlers
import os
import signal
import socket
import threading
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from circus._base.events import EventBus, topic_name
from circus._base.protocol import DEFAULT_ENDPOINT, DEFAULT_PUBSUB, DEFAULT_STATS_ENDPOINT
from circus._base.states import ArbiterState as ArbiterState  # re-exported: a public path
from circus._channels.channels import Channels
from circus._channels.controller import ZmqContext, resolve_owner
from circus._papa.host import PapaHost, uses_papa
from circus._papa.kernel import DEFAULT_ENDPOINT as DEFAULT_PAPA_ENDPOINT
from circus._reconfig import reload_config as _reload_config
from circus._setup.build import build
from circus._setup.httpd import HTTPD, httpd_socket, httpd_watcher
from circus._setup.plugins import is_active, plugin_watcher
from circus._setup.statsd import stats_watcher
from circus._watching.depends import DependencyError
from circus._watching.on_demand import OnDemand
from circus._watching.reaper import Reaper
from circus._watching.signals import SignalRouter
from circus.config import load_config
from circus.config._options import CIRCUS_OPTIONS, warn_inert
from circus.errors import CommandError, ConfigError, ConflictError, UnknownWatcherError
from circus.sockets import CircusSocket, SocketLike, SocketSpec, build_sockets
from circus.watcher import Watcher, WatcherOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from circus._daemon.systemd import SystemdNotifier
    from circus.config import CircusConfig

logger = logging.getLogger("circus")



class Arbiter:
    """Controls a set of watchers.

    Args:
        watchers: the ``Watcher`` objects to run.
        endpoint: the control channel endpoint (ZMQ ROUTER); None: no
            control channel.
        pubsub_endpoint: the event channel endpoint (ZMQ PUB); None: no
            event channel.
        multicast_endpoint: ``udp://group:port`` on which to answer
            discovery requests; None (the default): no discovery.
        endpoint_owner: the user an ``ipc://`` control socket is given to.
        check_delay: accepted for compatibility and reported by
            ``globaloptions``; nothing polls (reaping and the channels are
            event-driven).
        prereload_fn: called with the arbiter before each full reload.
        loop: an asyncio loop (or a tornado IOLoop wrapping one) to run on.
            Without it ``start()`` owns a loop and blocks until ``stop()``.
        warmup_delay: seconds to wait between two watchers' starts.
        statsd: run circusd-stats (from the circus-stats package) as the
            ``circusd-stats`` watcher, publishing on ``stats_endpoint``
            (default ``tcp://127.0.0.1:5557``). Raises ConfigError if
            circus-stats is not installed.
        prometheus: ``host:port`` where circusd-stats also serves Prometheus
            metrics (with ``statsd``).
        reap_orphans: become a child subreaper and reap re-parented
            descendants (circusd turns this on; embedding programs that spawn
            children of their own should leave it off).
        curve_secret_key: circusd's CURVE ``.key_secret`` file; with
            ``curve_authorized_keys`` (a directory of client ``*.key`` files)
            every endpoint requires an authorized key, and each client's role
            limits its commands. Raises ConfigError if only one is given.
        Other arguments are the manual's and are kept for the channels,
        sockets, stats, plugins and papa that attach to the arbiter.
        ``papa_endpoint`` (default ``tcp://127.0.0.1:20202``) is where the
        papa kernel of ``use_papa`` watchers and sockets listens. ``proc_name``
        is not acted on and logs a warning when given another value.

    Attributes:
        systemd: told ``READY=1`` once every watcher of the first priority
            group started, ``STOPPING=1`` when the stop begins, and kept
            pinged while the loop runs (circusd sets it under systemd's
            ``Type=notify``; None: nobody is told).
        lock: serialises the operations that touch several watchers (reload,
            reloadconfig, start/stop/restart of many); they queue, never fail.
    """

    def __init__(
        self,
        watchers: Iterable[Watcher],
        endpoint: str | None = DEFAULT_ENDPOINT,
        pubsub_endpoint: str | None = DEFAULT_PUBSUB,
        check_delay: float = 1.0,
        prereload_fn: Callable[[Arbiter], object] | None = None,
        context: ZmqContext | None = None,
        loop: object = None,
        statsd: bool = False,
        stats_endpoint: str | None = None,
        statsd_close_outputs: bool = False,
        multicast_endpoint: str | None = None,
        plugins: Iterable[Mapping[str, object]] | None = None,
        sockets: Mapping[str, SocketSpec] | Sequence[SocketSpec] | None = None,
        warmup_delay: float = 0,
        httpd: bool = False,
        httpd_host: str = "localhost",
        httpd_port: int = 8080,
        httpd_close_outputs: bool = False,
        debug: bool = False,
        debug_gc: bool = False,
        ssh_server: str | None = None,
        proc_name: str = "circusd",
        pidfile: str | None = None,
        loglevel: str | None = None,
        logoutput: str | None = None,
        loggerconfig: str | None = None,
        fqdn_prefix: str | None = None,
        umask: int | None = None,
        endpoint_owner: str | None = None,
        papa_endpoint: str | None = None,
        reap_orphans: bool = False,
        prometheus: str | None = None,
        curve_secret_key: str | None = None,
        curve_authorized_keys: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.check_delay = check_delay
        self.prereload_fn = prereload_fn
        self.context = context
        self.statsd = statsd
        self.stats_endpoint = stats_endpoint
        if statsd and stats_endpoint is None:
            self.stats_endpoint = DEFAULT_STATS_ENDPOINT
        self.prometheus = prometheus
        self.statsd_close_outputs = statsd_close_outputs
        self.multicast_endpoint = multicast_endpoint
        self.plugins = [dict(p) for p in plugins or ()]
        # name → CircusSocket (mappings of socket options are turned into ones).
        self.sockets: dict[str, SocketLike] = build_sockets(sockets)
        self._on_demand: OnDemand | None = None
        self.warmup_delay = float(warmup_delay)
        self.httpd = httpd
        self.httpd_host = httpd_host
        self.httpd_port = httpd_port
        self.httpd_close_outputs = httpd_close_outputs
        self.debug = debug
        self.debug_gc = debug_gc
        self.ssh_server = ssh_server
        self.proc_name = proc_name
        self.pidfile = pidfile
        self.loglevel = loglevel
        self.logoutput = logoutput
        self.loggerconfig = loggerconfig
        self.fqdn_prefix = fqdn_prefix
        self.umask = umask
        self.endpoint_owner = endpoint_owner
        # Set when endpoint_owner is: ``add`` then only accepts watchers running as that uid.
        self.endpoint_owner_uid = resolve_owner(endpoint_owner)
        self.papa_endpoint = papa_endpoint
        # The link to papa while use_papa watchers or sockets run (circus._papa).
        self.papa: PapaHost | None = None
        self.reap_orphans = reap_orphans
        if bool(curve_secret_key) != bool(curve_authorized_keys):
            given = "curve_secret_key" if curve_secret_key else "curve_authorized_keys"
            other = "curve_authorized_keys" if curve_secret_key else "curve_secret_key"
            raise ConfigError(f"[circus] {given} is set but {other} is not: CURVE needs both")
        # Paths only: the keys are read when the channels open, and never reported.
        self.curve_secret_key = curve_secret_key
        self.curve_authorized_keys = curve_authorized_keys
        self.config: CircusConfig | None = None  # the config this arbiter was built from
        self.lock = asyncio.Lock()
        self.systemd: SystemdNotifier | None = None
        self._told_stopping = False
        warn_inert("arbiter", CIRCUS_OPTIONS,
                   {key: getattr(self, key) for key, opt in CIRCUS_OPTIONS.items() if opt.inert})
        if proc_name != "circusd":
            # Not a [circus] option (no table row): circusd never renames its process.
            logger.warning("arbiter: proc_name = %r is accepted but not acted on: circusd does "
                           "not set its process title", proc_name)

        self.events = EventBus()
        self.state = ArbiterState.STOPPED
        # Set by a quit (signal or command): starts in progress stop early, so
        # Ctrl-C during the start of 10,000 processes is honoured at once.
        self.quitting = False
        # Set with ``quitting``: wakes a warmup_delay wait between two starts.
        self._quit_wake = asyncio.Event()
        self._loop = _asyncio_loop(loop)
        self._owns_loop = loop is None
        self._reaper: Reaper | None = None
        self._signals: SignalRouter | None = None
        self._fqdn: str | None = None  # resolved on first use: it may query DNS
        self._stopped: asyncio.Event | None = None
        self._restore_signals: list[int] = []
        self._ignored_logged: dict[int, float] = {}
        self._hup_reload: asyncio.Task[None] | None = None
        self._hup_again = False
        self.channels = Channels(self)
        self.watchers: list[Watcher] = []
        for watcher in watchers:
            self.adopt_watcher(watcher)
        if statsd:
            self.adopt_watcher(stats_watcher(self))
        if httpd:
            watcher = httpd_watcher(self)  # refuses before the socket is made
            self.sockets[HTTPD] = httpd_socket(self)
            self.adopt_watcher(watcher)
        for section in self.plugins:
            if is_active(section):
                self.adopt_watcher(plugin_watcher(self, section))
        if debug_gc:
            gc.set_debug(gc.DEBUG_LEAK)

    def __repr__(self) -> str:
        return f"<Arbiter {self.state.value} {len(self.watchers)} watchers>"

    @classmethod
    def load_from_config(cls, config_file: str, loop: object = None) -> Arbiter:
        """Build an arbiter from an INI file (raises ConfigError when it is invalid)."""
        return build(cls, load_config(config_file), loop=loop)

    @property
    def fqdn(self) -> str:
        """This daemon's name on the cluster: ``<fqdn_prefix>@<host fqdn>``."""
        if self._fqdn is None:
            host = socket.getfqdn()
            self._fqdn = f"{self.fqdn_prefix}@{host}" if self.fqdn_prefix else host
        return self._fqdn

    # -- shared services ------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop the arbiter runs on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def reaper(self) -> Reaper:
        """The reaper shared by every watcher."""
        if self._reaper is None:
            owner = self.reap_orphans and self._signal_router() is not None
            self._reaper = Reaper(self.loop, signals=self._signals, owner=owner)
        return self._reaper

    def _signal_router(self) -> SignalRouter | None:
        """The router of this arbiter's signals; None off the main thread."""
        if self._signals is None:
            if threading.current_thread() is not threading.main_thread():
                return None
            self._signals = SignalRouter(self.loop)
        return self._signals

    def close(self) -> None:
        """Release channels, sockets, reaper and signal handlers (after the watchers stopped)."""
        if self._on_demand is not None:
            self._on_demand.close()
            self._on_demand = None
        self.close_sockets()
        self.channels.close(flush=self.quitting)
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None
        if self._signals is not None:
            self._signals.close()
            self._signals = None

    def bind_sockets(self) -> None:
        """Bind every socket not bound yet; on failure none stays bound.

        Raises:
            CircusError: a socket cannot be bound; the message names it and
                its address.
        """
        try:
            for sock in self.sockets.values():
                if isinstance(sock, CircusSocket):
                    sock.bind_and_listen()
        except BaseException:
            self.close_sockets()
            raise

    def close_sockets(self) -> None:
        """Close the sockets this arbiter bound (they are bound again at the next start)."""
        for sock in self.sockets.values():
            if isinstance(sock, CircusSocket):
                sock.close()

    def socket_fds(self) -> tuple[int, ...]:
        """File descriptors of the arbiter's bound sockets (inherited with use_sockets)."""
        fds = (sock.fileno() for sock in self.sockets.values() if hasattr(sock, "fileno"))
        return tuple(fd for fd in fds if fd >= 0)

    def socket_variables(self) -> dict[str, int]:
        """``sockets.<name>`` → fd, for ``$(circus.sockets.NAME)``."""
        return {
            f"sockets.{name.lower()}": sock.fileno()
            for name, sock in self.sockets.items()
            if hasattr(sock, "fileno")
        }

    # -- watchers ---------------------------------------------------------------

    def adopt_watcher(self, watcher: Watcher) -> None:
        """Make ``watcher`` one of this arbiter's (not started, no ``add`` event).

        Raises:
            ConflictError: a watcher of that name (case-insensitive) exists.
        """
        if any(w.name.lower() == watcher.name.lower() for w in self.watchers):
            raise ConflictError(f"watcher {watcher.name!r} already exists")
        watcher.arbiter = self
        watcher.events = self.events
        self.watchers.append(watcher)

    def drop_watcher(self, watcher: Watcher) -> None:
        """Take a stopped ``watcher`` out of this arbiter (no ``remove`` event).

        ``reloadconfig`` replaces watchers with this and :meth:`adopt_watcher`;
        the ``rm`` command goes through :meth:`remove_watcher`.
        """
        if watcher in self.watchers:
            self.watchers.remove(watcher)
        if self._on_demand is not None:
            self._on_demand.disarm(watcher.name)  # its stop may have armed it again

    def arm_on_demand(self, watchers: Iterable[Watcher]) -> None:
        """(Re-)arm the stopped on-demand ``watchers`` on their current sockets.

        For watchers new to the arbiter without an ``add`` event, and for those
        whose sockets were just bound again; a no-op while the arbiter is stopped.
        """
        if self._on_demand is None:
            return
        for watcher in watchers:
            self._on_demand.disarm(watcher.name)
            if watcher.on_demand and watcher.status() == "stopped":
                self._on_demand.arm(watcher)

    def get_watcher(self, name: str) -> Watcher:
        """Return the watcher called ``name`` (case-insensitive)."""
        lowered = name.lower()
        for watcher in self.watchers:
            if watcher.name.lower() == lowered:
                return watcher
        raise UnknownWatcherError(f"program {name} not found")

    def iter_watchers(self, reverse: bool = True) -> Iterator[Watcher]:
        """Iterate over the watchers by priority: highest first (``reverse``), else lowest first.

        The order is taken when this is called: a watcher added or removed
        while the caller iterates (across an ``await``) does not change it.
        """
        return iter(sorted(self.watchers, key=lambda w: w.priority, reverse=reverse))

    def numwatchers(self) -> int:
        """Number of watchers."""
        return len(self.watchers)

    def numprocesses(self) -> int:
        """Number of live processes across every watcher."""
        return sum(len(w.processes) for w in self.watchers)

    def create_watcher(self, name: str, cmd: str, **options: Unpack[WatcherOptions]) -> Watcher:
        """Create a watcher (not started) and emit ``add``; it is visible at once.

        Raises:
            ValueError: bad options, or a ``depends_on`` naming a watcher this
                arbiter does not have.
            ConflictError: a watcher of that name exists.
        """
        watcher = Watcher(name, cmd, **options)
        known = {w.name.lower() for w in self.watchers}
        for dependency in watcher.depends_on:
            if dependency.lower() not in known:
                raise ValueError(f"depends_on names unknown watcher {dependency!r}")
        self.adopt_watcher(watcher)
        self.events.publish(watcher.name, "add", {})
        self._announce("add", watcher)
        return watcher

    def _announce(self, event: str, watcher: Watcher) -> None:
        # Also under one fixed topic, so that a subscriber can follow the set of
        # watchers without taking every ``watcher.`` event (the flapping plugin).
        self.events.publish_topic(f"arbiter.{event}", {"name": topic_name(watcher.name)})

    async def add_watcher(
        self, name: str, cmd: str, start: bool = False, **options: Unpack[WatcherOptions]
    ) -> Watcher:
        """Create a watcher (optionally starting it) and emit ``add``."""
        watcher = self.create_watcher(name, cmd, **options)
        if start:
            await watcher.start()
        return watcher

    def remove_watcher(self, name: str, nostop: bool = False) -> Watcher:
        """Take a watcher out of the arbiter and emit ``remove``; the caller stops it.

        With ``nostop`` its processes keep running, unmanaged; their exits are
        still collected so none of them becomes a zombie.
        """
        watcher = self.get_watcher(name)
        self.watchers.remove(watcher)
        self.events.publish(watcher.name, "remove", {})
        self._announce("remove", watcher)
        if nostop:
            watcher.detach()
        return watcher

    async def rm_watcher(self, name: str, nostop: bool = False) -> None:
        """Remove a watcher, emit ``remove``, then stop it (unless ``nostop``)."""
        watcher = self.remove_watcher(name, nostop)
        if not nostop:
            await watcher.stop()

    # -- lifecycle ----------------------------------------------------------------

    def start(
        self, cb: Callable[[Arbiter], object] | None = None
    ) -> asyncio.Task[None] | concurrent.futures.Future[None] | None:
        """Start every autostart watcher, in priority order.

        Args:
            cb: called with the arbiter once every watcher started; when it
                returns an awaitable, that is awaited too.

        Returns:
            None when the arbiter owns its loop (no ``loop`` given at
            construction): the call runs the loop and blocks until ``stop()``
            (or SIGINT/SIGTERM/SIGQUIT). With a loop given, it does not block
            and returns what completes once the watchers started: an
            ``asyncio.Task`` when called on that loop's thread (await it), a
            ``concurrent.futures.Future`` when called from another thread
            (``.result()`` it).
        """
        self.quitting = False
        if self._owns_loop:
            asyncio.run(self._serve(cb))
            return None
        return asyncio.run_coroutine_threadsafe(self._start_all(cb), self.loop) if (
            _other_thread(self.loop)
        ) else asyncio.ensure_future(self._start_all(cb), loop=self.loop)

    def stop(self) -> asyncio.Task[None] | None:
        """Stop every watcher, lowest priority first; ends ``start()``'s loop if it owns it.

        Returns:
            None when the arbiter owns its loop (the blocked ``start()`` call
            stops the watchers and returns); with a loop given at
            construction, the ``asyncio.Task`` stopping them (await it).
        """
        if self._owns_loop:
            if self._stopped is not None and self._loop is not None and self._loop.is_running():
                self._loop.call_soon_threadsafe(self._stopped.set)
            return None
        return asyncio.ensure_future(self._stop_all(), loop=self.loop)

    async def _serve(self, cb: Callable[[Arbiter], object] | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._install_signals()
        watchdog = None if self.systemd is None else asyncio.ensure_future(
            self.systemd.keep_watchdog())
        try:
            await self._start_all(cb)
            await self._stopped.wait()
        finally:
            self._tell_stopping()
            await self._stop_all()
            if watchdog is not None:
                watchdog.cancel()
            self._uninstall_signals()
            self.close()
            self._stopped = None
            self._loop = None

    async def _start_all(self, cb: Callable[[Arbiter], object] | None = None) -> None:
        self.state = ArbiterState.STARTING
        self._told_stopping = False
        self._quit_wake.clear()
        if self.umask is not None:
            os.umask(self.umask)
        try:
            if self.papa is None and uses_papa(self):
                self.papa = await PapaHost.open(
                    self, self.papa_endpoint or DEFAULT_PAPA_ENDPOINT)
            self.bind_sockets()
            # Before the watchers, so a client can already follow a long start.
            await self.channels.open()
        except BaseException:
            self.state = ArbiterState.STOPPED
            raise
        await self.start_watchers(after_first_group=self._tell_ready)
        self._on_demand = OnDemand(self)
        self._on_demand.arm_all()
        self.state = ArbiterState.RUNNING
        logger.info("arbiter running %d watchers", len(self.watchers))
        if cb is not None:
            result = cb(self)
            if isinstance(result, Awaitable):
                await result

    async def start_watchers(self, watchers: Iterable[Watcher] | None = None, *,
                             after_first_group: Callable[[], object] | None = None) -> None:
        """Start watchers (default: every autostart one), highest priority first.

        Args:
            watchers: the watchers to start; default: all of them.
            after_first_group: called once every watcher of the highest
                priority started (before the next priority's first start),
                or once nothing is left to start; not called when a quit cut
                the start short.
        """
        targets = self.iter_watchers() if watchers is None else sorted(
            watchers, key=lambda w: w.priority, reverse=True)
        first_priority: int | None = None
        for watcher in targets:
            if self.quitting:
                return
            if not watcher.autostart or watcher.on_demand:
                continue
            if first_priority is None:
                first_priority = watcher.priority
            else:
                if after_first_group is not None and watcher.priority != first_priority:
                    after_first_group()
                    after_first_group = None
                if self.warmup_delay:
                    await _wait_event(self._quit_wake, self.warmup_delay)
                    if self._quit_wake.is_set():
                        return
            try:
                await watcher.start()
            except DependencyError as exc:
                # The others still start: one missing dependency must not stop circusd.
                logger.error("%s", exc)
        if after_first_group is not None and not self.quitting:
            after_first_group()

    def _tell_ready(self) -> None:
        if self.systemd is not None:
            self.systemd.ready(f"running {len(self.watchers)} watchers")

    def _tell_stopping(self) -> None:
        # Once per run: a quit command, then the end of _serve, both get here.
        if self.systemd is not None and not self._told_stopping:
            self._told_stopping = True
            self.systemd.stopping()

    async def stop_watchers(self, watchers: Iterable[Watcher] | None = None) -> None:
        """Stop watchers lowest priority first, each fully stopped before the next."""
        targets = self.iter_watchers(reverse=False) if watchers is None else sorted(
            watchers, key=lambda w: w.priority)
        for watcher in targets:
            await watcher.stop()

    async def _stop_all(self, close_channels: bool = True) -> None:
        if self._on_demand is not None:
            self._on_demand.close()
            self._on_demand = None
        if self.state is not ArbiterState.STOPPED or self.numprocesses():
            self.state = ArbiterState.STOPPING
            # A reload (SIGHUP, reload, reloadconfig) under way finishes its
            # current watcher first: stopping beside it, it would spawn a new
            # generation behind our back, left running once circusd is gone.
            async with self.lock:
                await self.stop_watchers()
            self.state = ArbiterState.STOPPED
            logger.info("arbiter stopped")
        if self.papa is not None:
            # papa keeps what quit left running (and its sockets) for the next circusd.
            papa, self.papa = self.papa, None
            await papa.close()
        self.close_sockets()
        if close_channels:
            self.channels.close(flush=self.quitting)

    async def quit(self) -> None:
        """Stop every watcher and end the arbiter's loop (if it owns one)."""
        self.quitting = True
        self._quit_wake.set()
        self._tell_stopping()
        # The channels stay open until the reply to a ``quit`` command is out.
        await self._stop_all(close_channels=False)
        if self._stopped is not None:
            self._stopped.set()
        elif self.channels.is_open:
            # Embedded: close once the reply to a ``quit`` command has been sent,
            # which happens right after this coroutine returns.
            self.loop.call_soon(self.channels.close, True)

    async def reload(self, graceful: bool = True, sequential: bool = False) -> None:
        """Reload everything: prereload_fn, reopen logs and streams, reload each watcher."""
        async with self.lock:
            if self._stop_requested():  # queued behind a stop: nothing left to reload
                return
            if self.prereload_fn is not None:
                self.prereload_fn(self)
            reopen_log_files()
            refused: list[str] = []
            for watcher in self.iter_watchers():
                if self._stop_requested():
                    return
                watcher.reopen_streams()
                try:
                    await watcher.reload(graceful=graceful, sequential=sequential)
                except CommandError as exc:  # a gated reload rolled back: the others go on
                    refused.append(str(exc))
            if refused:
                raise CommandError("; ".join(refused))

    def _stop_requested(self) -> bool:
        # A call, not the attribute, for mypy: the flag changes while a reload awaits.
        return self.quitting

    async def reload_config(self, config: CircusConfig | None = None) -> None:
        """Re-read the config file and apply only what changed.

        Args:
            config: an already loaded :class:`~circus.config.CircusConfig`;
                by default the file this arbiter was built from is read again.

        Raises:
            ConfigError: the file does not load; nothing was changed.
        """
        await _reload_config.reload_config(self, config)

    # -- signals --------------------------------------------------------------------

    def _install_signals(self) -> None:
        router = self._signal_router()
        if router is None:
            return
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            router.add(signum, functools.partial(self._handle_quit, signum))
            self._restore_signals.append(signum)
        router.add(signal.SIGHUP, self._handle_hup)
        self._restore_signals.append(signal.SIGHUP)
        # Upstream leaves these at their default action: a stray USR1 (a log
        # rotator's habit) killed circusd and orphaned every worker.
        for signum in (signal.SIGUSR1, signal.SIGUSR2):
            router.add(signum, functools.partial(self._handle_ignored, signum))
            self._restore_signals.append(signum)

    def _uninstall_signals(self) -> None:
        if self._signals is not None:
            for signum in self._restore_signals:
                self._signals.remove(signum)
        self._restore_signals.clear()

    def _handle_quit(self, signum: int) -> None:
        logger.info("received %s; quitting", signal.Signals(signum).name)
        self.quitting = True
        self._quit_wake.set()
        self._tell_stopping()
        if self._stopped is not None:
            self._stopped.set()

    def _handle_ignored(self, signum: int) -> None:
        # One line a second at most: a storm of them must not flood the log.
        now = self.loop.time()
        if now - self._ignored_logged.get(signum, -1.0e9) >= 1.0:
            self._ignored_logged[signum] = now
            logger.info("received %s; ignored", signal.Signals(signum).name)

    def _handle_hup(self) -> None:
        if self.quitting:
            return
        if self._hup_reload is not None and not self._hup_reload.done():
            # One more reload after this one answers every SIGHUP that came
            # meanwhile: a burst of them must not queue a reload each.
            self._hup_again = True
            return
        logger.info("received SIGHUP; reloading")
        self._hup_reload = self.loop.create_task(self._reload_on_hup())

    async def _reload_on_hup(self) -> None:
        while True:
            self._hup_again = False
            with contextlib.suppress(CommandError):  # logged where it happened
                await self.reload()
            if not self._hup_again or self.quitting:
                return
            logger.info("received SIGHUP during the reload; reloading again")


def reopen_log_files() -> None:
    """Reopen every file handler of the logging tree (after logrotate)."""
    loggers = [logging.getLogger(), *(
        item for item in logging.Logger.manager.loggerDict.values()
        if isinstance(item, logging.Logger))]
    handlers = {id(h): h for log in loggers for h in log.handlers}
    for handler in handlers.values():
        if isinstance(handler, logging.handlers.WatchedFileHandler):
            handler.reopenIfNeeded()
        elif isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                # What FileHandler._open does, through public attributes.
                stream = open(handler.baseFilename, handler.mode,  # noqa: SIM115
                              encoding=handler.encoding, errors=handler.errors)
                handler.setStream(typing.cast("io.TextIOWrapper", stream))
            finally:
                handler.release()


def _asyncio_loop(loop: object) -> asyncio.AbstractEventLoop | None:
    """Accept an asyncio loop or a tornado IOLoop (which wraps one)."""
    if loop is None:
        return None
    inner = getattr(loop, "asyncio_loop", None)
    if isinstance(inner, asyncio.AbstractEventLoop):
        return inner
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop
    raise TypeError(f"loop must be an asyncio loop or a tornado IOLoop, not {type(loop).__name__}")


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    # Not asyncio.wait_for: before Python 3.12 it can swallow a cancellation.
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


def _other_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return loop.is_running()
