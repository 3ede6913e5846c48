"""Periodic work on a plugin's loop whose failures log one line and never stop it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tornado.ioloop import PeriodicCallback

if TYPE_CHECKING:
    from circus.plugins._base import CircusPlugin

log = logging.getLogger("circus.plugins")


def every(plugin: CircusPlugin, seconds: float, work: Callable[[], None]) -> PeriodicCallback:
    """Run ``work`` every ``seconds`` on ``plugin.loop`` (call this on the loop).

    An exception is logged on one line naming the plugin and the work; the
    next run happens as scheduled.
    """

    def guarded() -> None:
        try:
            work()
        except Exception as exc:
            log.error("plugin %s: %s failed: %s: %s", plugin._label(),
                      getattr(work, "__name__", "periodic work"), type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)

    timer = PeriodicCallback(guarded, seconds * 1000)
    timer.start()
    return timer
