"""Crash-loop protection: count failed starts, pace retries, know when to give up.

A *failed start* is a spawn that raised (missing binary, bad rlimit) or a
process that exited within ``min_uptime`` of its spawn without circus asking.
Retries wait ``retry_in * 2**(n-1)`` seconds, capped, with jitter so that
watchers failing together do not retry in lockstep. ``backoff = false``
retries at once, as upstream did; ``max_retry`` bounds the consecutive
failures (``-1``: never give up). The daemon stays responsive either way,
because a retry is always a new loop callback, never a loop inside one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

logger = logging.getLogger("circus")

MAX_BACKOFF = 60.0  # seconds; a broken program is retried at least this often
_JITTER = (0.8, 1.2)


class FailedStarts:
    """The failed-start record of one watcher."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self._retry: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<FailedStarts {self.name} count={self.count} waiting={self.waiting}>"

    @property
    def waiting(self) -> bool:
        """True while a retry is scheduled (nothing may spawn before it fires)."""
        return self._retry is not None

    def reset(self) -> None:
        """A process ran long enough: the crash loop, if any, is over."""
        self.count = 0

    def record(self, max_retry: int) -> bool:
        """Count one failed start; True when ``max_retry`` says to give up."""
        self.count += 1
        return 0 <= max_retry < self.count

    def delay(self, retry_in: float, backoff: bool) -> float:
        """Seconds to wait before the next attempt."""
        if not backoff or not self.count:
            return 0.0
        base: float = min(retry_in * 2.0 ** (self.count - 1), MAX_BACKOFF)
        return base * random.uniform(*_JITTER)

    def schedule(self, delay: float, retry: Callable[[], None]) -> None:
        """Call ``retry`` after ``delay`` seconds, unless a retry is already pending."""
        if self._retry is not None:
            return
        if delay:
            logger.info("watcher %s: retrying in %.2fs", self.name, delay)

        def fire() -> None:
            self._retry = None
            retry()

        self._retry = asyncio.get_running_loop().call_later(delay, fire)

    def cancel(self) -> None:
        """Drop a pending retry (the watcher is stopping)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
