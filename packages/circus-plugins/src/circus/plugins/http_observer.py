"""HttpObserver: GET a URL every ``loop_rate`` seconds, time it, restart a watcher on errors.

Options (plus statsd's): ``check_url`` (``http://localhost/``), ``loop_rate``
(60), ``timeout`` (10 s), ``restart_on_error`` (a watcher to restart when the
request fails or answers with an HTTP error; none by default).

Statsd: ``http_stats.request_time`` (ms) on success; ``http_stats.error``,
``http_stats.error.<code>`` and, after a restart, ``http_stats.restart_on_error``.
The request runs in a worker thread with ``requests`` (``pip install
'circus-plugins[http]'``), so a slow server never blocks the plugin; upstream's
used a tornado API removed in tornado 5 and 6 (#1165).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from circus.plugins._actions import act
from circus.plugins._options import Options, require
from circus.plugins.statsd import BaseObserver

__all__ = ["HttpObserver"]

log = logging.getLogger("circus.plugins.http_observer")


class HttpObserver(BaseObserver):
    """Checks a URL periodically and restarts a watcher when it fails."""

    name = "http_observer"
    default_app_name = "http_observer"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        self.requests = require("requests", "http", self._label())
        options = Options(self._label(), config)
        self.check_url = options.text("check_url", "http://localhost/")
        self.timeout = options.number("timeout", 10.0, positive=True)
        self.restart_on_error = options.optional_text("restart_on_error")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="http-observer")
        self._inflight = False

    def look_after(self) -> None:
        """Start one check unless the previous one is still running."""
        if self._inflight:
            return
        self._inflight = True
        future = self._executor.submit(self._fetch)
        self.loop.add_future(future, self._checked)

    def _fetch(self) -> tuple[float, int | None, str | None]:
        """(milliseconds, HTTP status or None, error or None); runs in the worker thread."""
        started = time.perf_counter()
        try:
            response = self.requests.get(self.check_url, timeout=self.timeout)
        except self.requests.RequestException as exc:
            return (time.perf_counter() - started) * 1000, None, type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 400:
            return elapsed, response.status_code, f"HTTP {response.status_code}"
        return elapsed, response.status_code, None

    def _checked(self, future: Future[tuple[float, int | None, str | None]]) -> None:
        self._inflight = False
        elapsed, code, error = future.result()
        if error is None:
            self.statsd.timed("http_stats.request_time", elapsed)
            return
        self.statsd.increment("http_stats.error")
        self.statsd.increment(f"http_stats.error.{code if code is not None else error}")
        log.warning("%s: %s after %.0f ms", self.check_url, error, elapsed)
        if self.restart_on_error:
            log.info("restarting watcher %s after the failed check of %s",
                     self.restart_on_error, self.check_url)
            act(self, "restart", name=self.restart_on_error,
                reason=f"check of {self.check_url} failed: {error}")
            self.statsd.increment("http_stats.restart_on_error")

    def handle_stop(self) -> None:
        """Stop checking; a request in flight is abandoned."""
        super().handle_stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
