"""RedisObserver: read a Redis server's INFO every ``loop_rate`` seconds into statsd gauges.

Options (plus statsd's): ``redis_url`` (``redis://localhost:6379/0``),
``loop_rate`` (60), ``timeout`` (5 s), ``restart_on_timeout`` (a watcher to
restart when Redis does not answer; none by default).

Statsd: a gauge ``redis_stats.<key>`` per INFO field below that the server
reports (newer servers lack some), ``redis_stats.error`` when it does not
answer, ``redis_stats.restart_on_error`` after a restart. Needs ``redis``
(``pip install 'circus-plugins[redis]'``); works with current redis-py, where
upstream's positional timeout raised TypeError. Timeouts count as errors too.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from circus.plugins._actions import act
from circus.plugins._options import Options, require
from circus.plugins.statsd import BaseObserver

__all__ = ["RedisObserver"]

log = logging.getLogger("circus.plugins.redis_observer")

INFO_KEYS = (
    "pubsub_channels", "connected_slaves", "lru_clock", "connected_clients",
    "keyspace_misses", "used_memory", "used_memory_peak", "total_commands_processed",
    "used_memory_rss", "total_connections_received", "pubsub_patterns", "used_cpu_sys",
    "used_cpu_sys_children", "blocked_clients", "used_cpu_user", "client_biggest_input_buf",
    "mem_fragmentation_ratio", "expired_keys", "evicted_keys", "client_longest_output_list",
    "uptime_in_seconds", "keyspace_hits",
)
"""The INFO fields sent as gauges (upstream's list)."""


class RedisObserver(BaseObserver):
    """Publishes a Redis server's INFO to statsd; restarts a watcher when it stops answering."""

    name = "redis_observer"
    default_app_name = "redis_observer"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        self.redis = require("redis", "redis", self._label())
        options = Options(self._label(), config)
        self.redis_url = options.text("redis_url", "redis://localhost:6379/0")
        self.timeout = options.number("timeout", 5.0, positive=True)
        self.restart_on_timeout = options.optional_text("restart_on_timeout")
        self.connection = self.redis.from_url(self.redis_url, socket_timeout=self.timeout,
                                              socket_connect_timeout=self.timeout)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="redis-observer")
        self._inflight = False

    def look_after(self) -> None:
        """Start one INFO read unless the previous one is still running."""
        if self._inflight:
            return
        self._inflight = True
        future = self._executor.submit(self._info)
        self.loop.add_future(future, self._done)

    def _info(self) -> dict[str, Any] | str:
        """INFO as a dict, or the error's description; runs in the worker thread."""
        try:
            info: dict[str, Any] = self.connection.info()
        except (self.redis.ConnectionError, self.redis.TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return info

    def _done(self, future: Future[dict[str, Any] | str]) -> None:
        self._inflight = False
        result = future.result()
        if isinstance(result, str):
            self.statsd.increment("redis_stats.error")
            log.warning("%s does not answer: %s", self.redis_url, result)
            if self.restart_on_timeout:
                log.info("restarting watcher %s: %s does not answer",
                         self.restart_on_timeout, self.redis_url)
                act(self, "restart", name=self.restart_on_timeout,
                    reason=f"{self.redis_url} does not answer")
                self.statsd.increment("redis_stats.restart_on_error")
            return
        for key in INFO_KEYS:
            value = result.get(key)
            if isinstance(value, (int, float)):
                self.statsd.gauge(f"redis_stats.{key}", value)

    def handle_stop(self) -> None:
        """Stop reading and close the connection pool."""
        super().handle_stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.connection.close()
