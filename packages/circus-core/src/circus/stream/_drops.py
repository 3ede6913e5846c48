"""Output a stream could not write (a full disk): dropped, counted, reported now and then.

A file stream whose write fails (``ENOSPC``, ``EDQUOT``, ``EIO``...) drops the
chunk instead of raising or retrying: the pipe reader goes on reading, so the
worker never blocks on a full pipe. One log line (and one report to the
listener, which the watcher turns into an ``output_dropped`` event) per
``error_report_interval`` seconds while writes fail, not one per write; one
more when writing works again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypedDict

logger = logging.getLogger("circus")

#: The default ``error_report_interval``: one report a minute while writes fail.
REPORT_INTERVAL = 60.0


class DropReport(TypedDict):
    """What a stream tells its listener about dropped output."""

    #: The file the stream writes to.
    filename: str
    #: Totals since the stream was made (they never go back to 0).
    dropped_bytes: int
    dropped_chunks: int
    #: The last write error (``strerror``), or None once writing works again.
    error: str | None
    #: True for the report sent when a write succeeded after failures.
    resumed: bool


DropListener = Callable[[DropReport], None]


class DropCounter:
    """Counts a stream's dropped chunks and rate-limits the reports about them.

    Args:
        filename: named in the log lines and reports.
        interval: seconds between two failure reports (0: report every failure).
        clock: monotonic seconds; tests may pass their own.
    """

    def __init__(self, filename: str, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.filename = filename
        self.interval = interval
        self.clock = clock
        self.listener: DropListener | None = None
        self.dropped_bytes = 0
        self.dropped_chunks = 0
        self.error: str | None = None  # set while writes fail
        self._next_report = 0.0
        self._reported = False  # a failure report went out since writing last worked

    def __repr__(self) -> str:
        return (f"<DropCounter {self.filename} {self.dropped_chunks} chunks "
                f"{self.dropped_bytes} bytes{' failing' if self.error else ''}>")

    def dropped(self, nbytes: int, exc: OSError) -> None:
        """Count a chunk of ``nbytes`` that could not be written because of ``exc``."""
        self.dropped_bytes += nbytes
        self.dropped_chunks += 1
        self.error = exc.strerror or str(exc)
        now = self.clock()
        if now < self._next_report:
            return
        self._next_report = now + self.interval
        self._reported = True
        logger.error("stream %s: cannot write (%s); output dropped, %d bytes in %d chunks "
                     "so far (reported again in %gs while it lasts)", self.filename,
                     self.error, self.dropped_bytes, self.dropped_chunks, self.interval)
        self._tell(resumed=False)

    def written(self) -> None:
        """A write succeeded: report the recovery if a failure was reported."""
        if self.error is None:
            return
        self.error = None
        if not self._reported:
            return  # the failures since the last report were never announced
        self._reported = False
        logger.warning("stream %s: writing again; %d bytes in %d chunks were dropped so far",
                       self.filename, self.dropped_bytes, self.dropped_chunks)
        self._tell(resumed=True)

    def _tell(self, *, resumed: bool) -> None:
        if self.listener is None:
            return
        try:
            self.listener({"filename": self.filename, "dropped_bytes": self.dropped_bytes,
                           "dropped_chunks": self.dropped_chunks, "error": self.error,
                           "resumed": resumed})
        except Exception:
            logger.exception("drop listener of stream %s failed", self.filename)
