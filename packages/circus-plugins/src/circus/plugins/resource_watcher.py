"""ResourceWatcher: restart a process that breaks its CPU or memory limits too often in a row.

Every ``loop_rate`` seconds (60) it asks circusd for ``stats`` of one
watcher (``watcher``; ``service`` is the deprecated old name) and checks each
process against:

* ``max_cpu`` (90) and ``min_cpu`` (none), in %;
* ``max_mem`` (90) and ``min_mem`` (none): a plain number is a percentage of
  the machine's memory, a number with a unit (``200M``, units B K M G T P E Z Y)
  an absolute size;
* ``health_threshold`` (75): the mean of the CPU and memory percentages.

Each check counts its consecutive breaches per process; once a count passes
``max_count`` (3) that process alone is restarted with circusd's ``kill``
command (its stop sequence; the watcher respawns it). Every limit can be
switched off with ``none`` (``0`` also switches off ``max_cpu``, ``max_mem``
and ``health_threshold``, as upstream's did; ``min_cpu = 0`` means "exactly 0 %").

Unlike upstream (#1006, #756): it acts on the offending process, never the
whole watcher; an absolute ``min_mem`` is compared as a size; a process
whose figures circusd cannot read (``N/A``) is skipped, not taken as 100 %;
each action is logged. Statsd counters ``_resource_watcher.<w>.<check>`` are
sent as upstream's were (``over_cpu``, ``under_cpu``, ``over_memory``,
``under_memory``, ``over_health``, ``restarting``, ``error``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from circus.plugins._actions import act
from circus.plugins._options import ConfigError, Options, parse_size
from circus.plugins.statsd import BaseObserver

__all__ = ["ResourceWatcher"]

log = logging.getLogger("circus.plugins.resource_watcher")


@dataclass(frozen=True)
class Sample:
    """What circusd reported for one process; None where it could not read it."""

    cpu: float | None
    mem_pct: float | None
    mem_bytes: float | None


def read_sample(info: dict[str, Any]) -> Sample:
    """A :class:`Sample` from one process's ``stats`` entry."""
    cpu = info.get("cpu")
    mem = info.get("mem")
    size: float | None
    try:
        raw = info.get("mem_info1")
        size = float(raw) if isinstance(raw, (int, float)) else float(parse_size(str(raw)))
    except ValueError:
        size = None
    return Sample(float(cpu) if isinstance(cpu, (int, float)) else None,
                  float(mem) if isinstance(mem, (int, float)) else None, size)


class ResourceWatcher(BaseObserver):
    """Restarts one watcher's processes that keep breaking CPU or memory limits."""

    name = "resource_watcher"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        options = Options(self._label(), config)
        watcher = options.optional_text("watcher")
        if watcher is None and options.optional_text("service") is not None:
            log.warning("plugin %s: option 'service' is deprecated, use 'watcher'",
                        self._label())
            watcher = options.optional_text("service")
        if watcher is None:
            raise ConfigError(f"plugin {self._label()}: option 'watcher' is required "
                              "(the name of the watcher to look after)")
        self.watcher = watcher
        self.max_cpu = _zero_is_off(options.optional_number("max_cpu", 90.0))
        self.min_cpu = options.optional_number("min_cpu", None)
        self.max_mem = _zero_limit_is_off(options.limit("max_mem", 90.0))
        self.min_mem = options.limit("min_mem", None)
        self.health_threshold = _zero_is_off(options.optional_number("health_threshold", 75.0))
        self.max_count = options.integer("max_count", 3, minimum=0)
        # pid -> check -> consecutive breaches
        self.counts: dict[int, dict[str, int]] = {}

    def look_after(self) -> None:
        """One pass: sample every process, count breaches, restart offenders."""
        reply = self.call("stats", name=self.watcher)
        if reply.get("status") == "error":
            self.statsd.increment(f"_resource_watcher.{self.watcher}.error")
            log.warning("%s: cannot read its stats: %s", self.watcher, reply.get("reason"))
            return
        infos = reply.get("info") or {}
        seen: set[int] = set()
        for key, info in infos.items():
            if not isinstance(info, dict):
                continue
            try:
                pid = int(key)
            except ValueError:
                continue
            seen.add(pid)
            self._check(pid, read_sample(info))
        for pid in [p for p in self.counts if p not in seen]:
            del self.counts[pid]  # gone: its breaches go with it

    def breaches(self, sample: Sample) -> list[str]:
        """The checks ``sample`` breaks (``over_cpu``, ``under_memory``...)."""
        found = []
        if sample.cpu is not None:
            if self.max_cpu is not None and sample.cpu > self.max_cpu:
                found.append("over_cpu")
            if self.min_cpu is not None and sample.cpu <= self.min_cpu:
                found.append("under_cpu")
        if self.max_mem is not None and _above(sample, self.max_mem):
            found.append("over_memory")
        if self.min_mem is not None and _below(sample, self.min_mem):
            found.append("under_memory")
        if (self.health_threshold is not None and sample.cpu is not None
                and sample.mem_pct is not None
                and (sample.cpu + sample.mem_pct) / 2 > self.health_threshold):
            found.append("over_health")
        return found

    def _check(self, pid: int, sample: Sample) -> None:
        if sample.cpu is None and sample.mem_pct is None and sample.mem_bytes is None:
            log.debug("%s: pid %d: figures not readable, skipped", self.watcher, pid)
            return
        counts = self.counts.setdefault(pid, {})
        broken = self.breaches(sample)
        for check in list(counts):
            if check not in broken:
                del counts[check]
        for check in broken:
            counts[check] = counts.get(check, 0) + 1
            self.statsd.increment(f"_resource_watcher.{self.watcher}.{check}")
        over = [check for check, count in counts.items() if count > self.max_count]
        if over:
            self.statsd.increment(f"_resource_watcher.{self.watcher}.restarting")
            log.info("%s: pid %d broke %s more than %d times in a row "
                     "(cpu %s%%, mem %s%%): restarting that process", self.watcher, pid,
                     ", ".join(sorted(over)), self.max_count, sample.cpu, sample.mem_pct)
            del self.counts[pid]
            act(self, "kill", name=self.watcher, pid=pid,
                reason=f"broke {', '.join(sorted(over))} more than {self.max_count} times")


def _zero_is_off(value: float | None) -> float | None:
    return None if value == 0 else value


def _zero_limit_is_off(limit: tuple[float, bool] | None) -> tuple[float, bool] | None:
    return None if limit is not None and limit[0] == 0 else limit


def _above(sample: Sample, limit: tuple[float, bool]) -> bool:
    value = sample.mem_bytes if limit[1] else sample.mem_pct
    return value is not None and value > limit[0]


def _below(sample: Sample, limit: tuple[float, bool]) -> bool:
    value = sample.mem_bytes if limit[1] else sample.mem_pct
    return value is not None and value <= limit[0]
