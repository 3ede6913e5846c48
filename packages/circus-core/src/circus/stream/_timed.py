"""TimedRotatingFileStream: rotate the log file at fixed wall-clock intervals."""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime, timedelta, timezone

from ._base import option_bool, option_count, option_text
from ._drops import REPORT_INTERVAL
from ._file import BaseFileStream, FileName

# Seconds per unit for the units that are plain multiples of a second.
_UNIT_SECONDS = {"S": 1, "M": 60, "H": 3600}

# Rotated files are named "<filename>.<suffix>", the suffix being the start of
# the period the file covers in upstream 0.19's formats (digits only, finer
# units add digits). Tools that ship or prune logs by name rely on them.
_SUFFIX = {
    "S": "%Y%m%d%H%M%S",
    "M": "%Y%m%d%H%M",
    "H": "%Y%m%d%H",
    "D": "%Y%m%d",
}
# So a backup is "<filename>.<this many digits>", plus ".<n>" when the name was
# taken (see _rollover).
_SUFFIX_DIGITS = {unit: len(datetime(2000, 1, 1).strftime(fmt)) for unit, fmt in _SUFFIX.items()}

_WHEN_CHOICES = "S, M, H, D, MIDNIGHT or W0-W6"


class TimedRotatingFileStream(BaseFileStream):
    """Append to ``filename`` and rotate it every ``rotate_interval`` ``rotate_when`` units.

    ``rotate_when`` (case-insensitive):

    * ``S``, ``M``, ``H``: seconds, minutes, hours; rollovers fall on whole units
      (``H`` rotates on the hour), every ``rotate_interval`` units.
    * ``D`` and ``MIDNIGHT``: at midnight, every ``rotate_interval`` days.
    * ``W0`` … ``W6``: at the midnight starting that weekday (0 = Monday), every
      ``rotate_interval`` weeks.

    Times are local unless ``utc`` is true (this also applies to the line
    prefixes). The current file is renamed ``<filename>.<start of its period>``
    with upstream's suffixes: ``%Y%m%d%H%M%S`` for ``S``, ``%Y%m%d%H%M`` for
    ``M``, ``%Y%m%d%H`` for ``H`` and ``%Y%m%d`` for the others, e.g.
    ``app.log.2024030514`` for ``H``. Where upstream overwrote a taken name,
    ``.1``, ``.2`` … are appended instead. ``backup_count`` rotated files are
    kept, the oldest are deleted; ``0`` keeps them all. Only names of the
    current unit's shape count as backups, as upstream matched them. Like
    FileStream it notices within a second when the file was moved or deleted
    externally.

    The clock is the ``_now`` attribute (``time.time`` by default); tests may
    replace it before the first write.
    """

    def __init__(
        self,
        filename: FileName,
        backup_count: int | str = 0,
        time_format: str | None = None,
        rotate_when: str = "H",
        rotate_interval: int | str = 1,
        utc: bool | str = False,
        error_report_interval: float | str = REPORT_INTERVAL,
    ) -> None:
        self.backup_count = option_count("backup_count", backup_count)
        self.rotate_interval = option_count("rotate_interval", rotate_interval, minimum=1)
        self.utc = option_bool("utc", utc)
        when = (option_text("rotate_when", rotate_when) or "").strip().upper()
        if when in ("D", "MIDNIGHT"):
            self._unit, self._weekday = "D", -1
        elif when in _UNIT_SECONDS:
            self._unit, self._weekday = when, -1
        elif re.fullmatch(r"W[0-6]", when):
            self._unit, self._weekday = "D", int(when[1])
        else:
            raise ValueError(f"rotate_when: expected {_WHEN_CHOICES}, got {rotate_when!r}")
        self.rotate_when = when
        # Period bounds are computed at the first write, so a clock installed
        # after construction (tests) is honoured from the start.
        self._period_start = 0.0
        self._rollover_at: float | None = None
        super().__init__(filename, time_format, utc=self.utc,
                         error_report_interval=error_report_interval)

    # -- rotation ------------------------------------------------------------------------------

    def _before_write(self, nbytes: int, now: float) -> None:
        self._follow_rotation_now_and_then()
        if self._rollover_at is None:
            st = os.fstat(self._fd)
            # A non-empty file left by an earlier run belongs to the period of its
            # last write; if that is over, the first write rotates it away.
            base = min(st.st_mtime, now) if st.st_size else now
            self._period_start, self._rollover_at = self._period(base)
        if now >= self._rollover_at:
            self._rollover(now)

    def _rollover(self, now: float) -> None:
        self._close_fd()
        suffix = self._to_datetime(self._period_start).strftime(_SUFFIX[self._unit])
        target = f"{self.filename}.{suffix}"
        candidate, counter = target, 0
        while os.path.exists(candidate):
            # Clock stepped back or interval shorter than the suffix resolution.
            counter += 1
            candidate = f"{target}.{counter}"
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.filename, candidate)
        self._open()
        self._period_start, self._rollover_at = self._period(now)
        if self.backup_count:
            self._delete_old_backups()

    def _delete_old_backups(self) -> None:
        directory, base = os.path.split(self.filename)
        digits = _SUFFIX_DIGITS[self._unit]
        matcher = re.compile(re.escape(base) + rf"\.(\d{{{digits}}})(?:\.(\d+))?")
        backups = []
        for name in os.listdir(directory):
            match = matcher.fullmatch(name)
            if match:
                # Oldest first: by time, then ".2" before ".10" for taken names.
                stamp, counter = match.groups()
                backups.append((stamp, int(counter or 0), name))
        backups.sort()
        for _, _, name in backups[: max(0, len(backups) - self.backup_count)]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))

    # -- time arithmetic -----------------------------------------------------------------------

    def _to_datetime(self, when: float) -> datetime:
        # Naive local datetimes on purpose: adding days to them moves the wall
        # clock, and .timestamp() maps the result back through the local zone,
        # so "midnight" stays midnight across DST changes.
        return datetime.fromtimestamp(when, timezone.utc if self.utc else None)

    def _period(self, when: float) -> tuple[float, float]:
        """Return (start, end) of the rotation period containing ``when``."""
        moment = self._to_datetime(when)
        if self._unit in _UNIT_SECONDS:
            if self._unit == "S":
                start = moment.replace(microsecond=0)
            elif self._unit == "M":
                start = moment.replace(second=0, microsecond=0)
            else:
                start = moment.replace(minute=0, second=0, microsecond=0)
            begin = start.timestamp()
            return begin, begin + self.rotate_interval * _UNIT_SECONDS[self._unit]
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self._weekday < 0:
            days = self.rotate_interval
        else:
            days = (self._weekday - day.weekday()) % 7 or 7
            days += 7 * (self.rotate_interval - 1)
        return day.timestamp(), (day + timedelta(days=days)).timestamp()

