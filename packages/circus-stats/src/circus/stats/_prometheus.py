"""The ``--prometheus`` endpoint: the stats as Prometheus metrics.

``prometheus_client`` serves from its own thread, so the collector never
touches the loop's live tables: each tick hands it a fresh immutable
:class:`MetricsSnapshot`, and a scrape reads whichever snapshot is current
(replacing one attribute is atomic). Only uptime and open fds are computed at
scrape time, from the snapshot's pids.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping

from circus.stats._report import CIRCUS_GROUP
from circus.stats._snapshot import MetricsSnapshot
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def _open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # gone, another user's, or no /proc
        return None


class StatsCollector(Collector):
    """A custom collector over the current :class:`MetricsSnapshot`."""

    def __init__(self) -> None:
        self.snapshot = MetricsSnapshot()

    def collect(self) -> Iterator[Metric]:
        """Build every metric family from one snapshot."""
        snap = self.snapshot  # read once: the loop may swap it meanwhile
        now = time.time()
        labels = ["watcher", "pid"]
        p_cpu = CounterMetricFamily("circus_process_cpu_seconds",
                                    "CPU time (user + system) of a process", labels=labels)
        p_rss = GaugeMetricFamily("circus_process_resident_memory_bytes",
                                  "Resident memory of a process", labels=labels)
        p_fds = GaugeMetricFamily("circus_process_open_fds",
                                  "Open file descriptors of a process", labels=labels)
        p_up = GaugeMetricFamily("circus_process_uptime_seconds",
                                 "Seconds since a process started", labels=labels)
        p_ready = GaugeMetricFamily("circus_process_ready",
                                    "1 if a process is ready (its health check passed), "
                                    "else 0", labels=labels)
        cpu: dict[str, float] = dict(snap.retired_cpu)
        rss: dict[str, float] = {}
        fds: dict[str, float] = {}
        uptime: dict[str, float] = {}
        count: dict[str, int] = {}
        ready: dict[str, int] = {}
        for point in snap.processes:
            key, values = point.watcher, [point.watcher, str(point.pid)]
            count[key] = count.get(key, 0) + 1
            if point.health is not None:
                is_ready = point.health == "ready"
                p_ready.add_metric(values, int(is_ready))
                ready[key] = ready.get(key, 0) + is_ready
            if point.cpu_seconds is not None:
                p_cpu.add_metric(values, point.cpu_seconds)
                cpu[key] = cpu.get(key, 0.0) + point.cpu_seconds
            if point.rss_bytes is not None:
                p_rss.add_metric(values, point.rss_bytes)
                rss[key] = rss.get(key, 0) + point.rss_bytes
            opened = _open_fds(point.pid)
            if opened is not None:
                p_fds.add_metric(values, opened)
                fds[key] = fds.get(key, 0) + opened
            if point.create_time is not None:
                age = max(now - point.create_time, 0.0)
                p_up.add_metric(values, age)
                uptime[key] = max(uptime.get(key, 0.0), age)
        yield from (p_cpu, p_rss, p_fds, p_up, p_ready)
        yield from self._watchers(snap, cpu, rss, fds, uptime, count)
        yield from self._readiness(snap, ready)
        hits = CounterMetricFamily("circus_socket_hits",
                                   "Bursts of new connections seen on a circus socket",
                                   labels=["socket", "address"])
        for name, address, total in snap.socket_hits:
            hits.add_metric([name, address], total)
        yield hits

    @staticmethod
    def _watchers(snap: MetricsSnapshot, cpu: dict[str, float], rss: dict[str, float],
                  fds: dict[str, float], uptime: dict[str, float],
                  count: dict[str, int]) -> Iterator[Metric]:
        label = ["watcher"]
        families: list[tuple[CounterMetricFamily | GaugeMetricFamily, Mapping[str, float]]] = [
            (CounterMetricFamily("circus_watcher_cpu_seconds",
                                 "CPU time of a watcher's processes, past ones included",
                                 labels=label), cpu),
            (GaugeMetricFamily("circus_watcher_resident_memory_bytes",
                               "Resident memory of a watcher's processes", labels=label), rss),
            (GaugeMetricFamily("circus_watcher_open_fds",
                               "Open file descriptors of a watcher's processes",
                               labels=label), fds),
            (GaugeMetricFamily("circus_watcher_uptime_seconds",
                               "Uptime of a watcher's oldest process", labels=label), uptime),
            (GaugeMetricFamily("circus_watcher_processes",
                               "Running processes of a watcher", labels=label), count),
            (CounterMetricFamily("circus_watcher_restarts",
                                 "Processes of a watcher that exited without being stopped",
                                 labels=label), dict(snap.restarts)),
            (GaugeMetricFamily("circus_watcher_last_exit_code",
                               "Exit code of a watcher's last reaped process "
                               "(negative: killed by that signal)", labels=label),
             dict(snap.exit_codes)),
        ]
        zero_filled = {"circus_watcher_processes", "circus_watcher_restarts",
                       "circus_watcher_cpu_seconds"}
        for family, values in families:
            for group in snap.groups:
                if group in values:
                    family.add_metric([group], values[group])
                elif family.name in zero_filled:
                    family.add_metric([group], 0)
            yield family


    @staticmethod
    def _readiness(snap: MetricsSnapshot, ready: dict[str, int]) -> Iterator[Metric]:
        """The watchers' readiness families, empty unless circusd reports readiness."""
        label = ["watcher"]
        counts = GaugeMetricFamily("circus_watcher_ready_processes",
                                   "Processes of a watcher that are ready", labels=label)
        failures = CounterMetricFamily("circus_watcher_unhealthy",
                                       "Processes of a watcher found unhealthy (then "
                                       "restarted) since circusd-stats started", labels=label)
        if snap.reports_health:
            unhealthy = dict(snap.unhealthy)
            for group in snap.groups:
                if group != CIRCUS_GROUP:  # circusd and circusd-stats have no check
                    counts.add_metric([group], ready.get(group, 0))
                    failures.add_metric([group], unhealthy.get(group, 0))
        yield from (counts, failures)


class PrometheusServer:
    """The HTTP endpoint and its collector; :attr:`collector` takes the snapshots."""

    def __init__(self, host: str, port: int) -> None:
        self.collector = StatsCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host = host
        self.port = int(self._server.server_address[1])

    def publish(self, snapshot: MetricsSnapshot) -> None:
        """Make ``snapshot`` what the next scrape reports."""
        self.collector.snapshot = snapshot

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
