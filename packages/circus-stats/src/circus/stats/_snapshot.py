"""What one tick leaves for the metrics endpoint: frozen, so another thread may read it.

Kept apart from :mod:`circus.stats._prometheus` so that the tick does not
import ``prometheus_client`` unless ``--prometheus`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProcessPoint:
    """One process as last sampled."""

    watcher: str
    pid: int
    cpu_seconds: float | None
    rss_bytes: int | None
    create_time: float | None
    health: str | None = None  # starting, ready, unhealthy; None: not reported


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything a scrape reports, frozen at one tick."""

    groups: tuple[str, ...] = ()
    processes: tuple[ProcessPoint, ...] = ()
    retired_cpu: tuple[tuple[str, float], ...] = ()
    restarts: tuple[tuple[str, int], ...] = ()
    exit_codes: tuple[tuple[str, int], ...] = ()
    reports_health: bool = False
    unhealthy: tuple[tuple[str, int], ...] = ()
    socket_hits: tuple[tuple[str, str, int], ...] = field(default=())  # name, address, total
