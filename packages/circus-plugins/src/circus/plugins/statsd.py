"""Statsd plugins: :class:`StatsdEmitter` (a counter per event), :class:`FullStats`
(per-watcher gauges), and :class:`BaseObserver`, the base of the observers.

They send through the ``statsd`` package (``pip install 'circus-plugins[statsd]'``),
which samples for real when ``sample_rate`` is below 1: upstream appended
``|@rate`` to every packet without dropping any, so statsd scaled the counts up.
"""

from __future__ import annotations

from typing import Any

from circus.plugins._base import CircusPlugin
from circus.plugins._options import ConfigError, Options, parse_size, require
from circus.plugins._periodic import every
from tornado.ioloop import PeriodicCallback

__all__ = ["DEFAULT_MAX_DELAY", "BaseObserver", "FullStats", "StatsdClient", "StatsdEmitter"]

DEFAULT_MAX_DELAY = 3.0
"""Seconds StatsdEmitter's counters may wait to share packets (option ``max_delay``)."""


class StatsdClient:
    """Sends counters, gauges and timings to one statsd server over UDP.

    Args:
        host: the statsd server's host name or address.
        port: its UDP port.
        prefix: prepended (with a dot) to every bucket name.
        sample_rate: fraction of counter increments actually sent (0 < rate <= 1).
        plugin: names the plugin in errors.

    Raises:
        MissingDependency: the ``statsd`` package is not installed.
        ConfigError: ``host`` cannot be resolved.
    """

    def __init__(self, host: str = "localhost", port: int = 8125, prefix: str | None = None,
                 sample_rate: float = 1.0, plugin: str = "statsd") -> None:
        statsd = require("statsd", "statsd", plugin)
        self.sample_rate = sample_rate
        try:
            self._client = statsd.StatsClient(host, port, prefix=prefix)
        except OSError as exc:
            raise ConfigError(f"plugin {plugin}: statsd host {host!r} port {port}: {exc}") from None
        self._batch: Any = None  # a statsd Pipeline between begin_batch() and send_batch()

    def _target(self) -> Any:
        return self._batch if self._batch is not None else self._client

    def increment(self, bucket: str, delta: int = 1) -> None:
        """Add ``delta`` to a counter (sampled at ``sample_rate``)."""
        self._target().incr(bucket, delta, rate=self.sample_rate)

    def decrement(self, bucket: str, delta: int = 1) -> None:
        """Subtract ``delta`` from a counter (sampled at ``sample_rate``)."""
        self._target().decr(bucket, delta, rate=self.sample_rate)

    def gauge(self, bucket: str, value: float) -> None:
        """Set a gauge."""
        self._target().gauge(bucket, value)

    def timed(self, bucket: str, value: float) -> None:
        """Record a timing, in milliseconds."""
        self._target().timing(bucket, value)

    def begin_batch(self) -> None:
        """Collect what follows until :meth:`send_batch` (no-op when already collecting)."""
        if self._batch is None:
            self._batch = self._client.pipeline()

    def send_batch(self) -> None:
        """Send what was collected, a few metrics per UDP packet (statsd splits on newlines)."""
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.send()

    def stop(self) -> None:
        """Send what was collected, then close the UDP socket."""
        self.send_batch()
        self._client.close()


class StatsdEmitter(CircusPlugin):
    """Sends one statsd counter per circusd event: ``<prefix>.<watcher>.<event>``.

    Options: ``host`` (localhost), ``port`` (8125), ``sample_rate`` (1.0),
    ``application_name`` (``app``; the prefix is ``circus.<application_name>.watcher``),
    ``prefix`` (replaces that whole prefix), ``max_delay`` (seconds, 3.0): after
    sending, the events that follow are gathered that long and counted
    together (``<bucket>:<n>|c``, several buckets per packet), so that a busy
    circusd costs the plugin one wake-up every few seconds rather than one per
    event; statsd sums counters over its flush interval (10 s by default),
    so it counts the same. ``max_delay = 0`` sends a counter per event at
    once. With ``sample_rate`` below 1 each event is sampled and sent on its
    own (in the gathered packets), as statsd expects of sampled counters.
    """

    name = "statsd"
    default_app_name = "app"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        options = Options(self._label(), config)
        self.app = options.text("application_name", self.default_app_name)
        self.prefix = options.text("prefix", f"circus.{self.app}.watcher")
        host = options.text("host", "localhost")
        port = options.integer("port", 8125, minimum=1)
        sample_rate = options.number("sample_rate", 1.0, positive=True)
        if sample_rate > 1:
            raise ConfigError(f"plugin {self._label()}: option 'sample_rate' expects a number "
                              f"in (0, 1], got {config['sample_rate']!r}")
        self.hold_events = options.number("max_delay", DEFAULT_MAX_DELAY, minimum=0.0)
        require("statsd", "statsd", self._label())  # a missing extra fails before start
        self._statsd_args = (host, port, self.prefix, sample_rate, self._label())
        self._statsd: StatsdClient | None = None
        # Events per bucket since the last send, when they are gathered and unsampled.
        self._tally: dict[str, int] | None = (
            {} if self.hold_events > 0 and sample_rate == 1 else None)

    @property
    def statsd(self) -> StatsdClient:
        """The statsd client; its socket opens on first use."""
        if self._statsd is None:
            self._statsd = StatsdClient(*self._statsd_args)
        return self._statsd

    def handle_init(self) -> None:
        """Open the statsd socket (a bad host fails the start here)."""
        _ = self.statsd

    def handle_recv(self, data: list[bytes]) -> None:
        """Count the event."""
        watcher_name, action, _ = self.split_data(data)
        bucket = f"{watcher_name}.{action}"
        if self._tally is not None:
            self._tally[bucket] = self._tally.get(bucket, 0) + 1
            return
        if self.hold_events > 0:
            self.statsd.begin_batch()
        self.statsd.increment(bucket)

    def handle_drained(self) -> None:
        """Send the counters gathered from the events handled so far."""
        if self._tally:
            tally, self._tally = self._tally, {}
            self.statsd.begin_batch()
            for bucket, count in tally.items():
                self.statsd.increment(bucket, count)
        if self._statsd is not None:
            self._statsd.send_batch()

    def handle_stop(self) -> None:
        """Send what was gathered, then close the statsd socket."""
        self.handle_drained()
        if self._statsd is not None:
            self._statsd.stop()
            self._statsd = None


class BaseObserver(StatsdEmitter):
    """A statsd plugin that runs :meth:`look_after` every ``loop_rate`` seconds (60).

    Events are not counted; subclasses implement :meth:`look_after`.
    """

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        self.loop_rate = Options(self._label(), config).number("loop_rate", 60.0, positive=True)
        self.period: PeriodicCallback | None = None

    def handle_init(self) -> None:
        """Open the statsd socket and start the periodic :meth:`look_after`."""
        super().handle_init()
        self.period = every(self, self.loop_rate, self.look_after)

    def handle_stop(self) -> None:
        """Stop the periodic work and close the statsd socket."""
        if self.period is not None:
            self.period.stop()
        super().handle_stop()

    def handle_recv(self, data: list[bytes]) -> None:
        """Events are not used by observers."""

    def look_after(self) -> None:
        """The periodic check."""
        raise NotImplementedError()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _size(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(parse_size(str(value)))
    except ValueError:
        return None  # "N/A": not readable


class FullStats(BaseObserver):
    """Every ``loop_rate`` seconds, gauges of every watcher's processes.

    Per watcher (plugins skipped): ``_stats.<w>.spawn_count`` (spawns seen
    since the plugin started), ``_stats.<w>.watchers_num`` (processes), and
    with at least one readable process ``cpu_max``, ``cpu_sum``,
    ``mem_pct_max``, ``mem_pct_sum``, ``mem_max`` and ``mem_sum`` (bytes).
    Values circusd cannot read (``N/A``) are left out instead of aborting the pass.
    """

    name = "full_stats"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        self.spawn_counts: dict[str, int] = {}

    def handle_recv(self, data: list[bytes]) -> None:
        """Count spawns per watcher."""
        watcher_name, action, _ = self.split_data(data)
        if action == "spawn":
            self.spawn_counts[watcher_name] = self.spawn_counts.get(watcher_name, 0) + 1

    def look_after(self) -> None:
        """Send one pass of gauges."""
        try:
            reply = self.call("stats")
        except Exception:
            self.statsd.increment("_stats.error")
            raise
        if reply.get("status") == "error":
            self.statsd.increment("_stats.error")
            return
        for name, processes in (reply.get("infos") or {}).items():
            if name.startswith("plugin:") or not isinstance(processes, dict):
                continue
            self._send_watcher(name, [p for p in processes.values() if isinstance(p, dict)])

    def _send_watcher(self, name: str, processes: list[dict[str, Any]]) -> None:
        gauge = self.statsd.gauge
        gauge(f"_stats.{name}.spawn_count", self.spawn_counts.get(name.lower(), 0))
        gauge(f"_stats.{name}.watchers_num", len(processes))
        cpus = [c for c in (_number(p.get("cpu")) for p in processes) if c is not None]
        mems = [m for m in (_number(p.get("mem")) for p in processes) if m is not None]
        sizes = [s for s in (_size(p.get("mem_info1")) for p in processes) if s is not None]
        if cpus:
            gauge(f"_stats.{name}.cpu_max", max(cpus))
            gauge(f"_stats.{name}.cpu_sum", sum(cpus))
        if mems:
            gauge(f"_stats.{name}.mem_pct_max", max(mems))
            gauge(f"_stats.{name}.mem_pct_sum", sum(mems))
        if sizes:
            gauge(f"_stats.{name}.mem_max", max(sizes))
            gauge(f"_stats.{name}.mem_sum", sum(sizes))


