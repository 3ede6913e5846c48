"""Reading and writing the human units of the stats channel: percentages, sizes, ages."""

from __future__ import annotations

import math
import re

from circus.client.protocol import human_bytes

NOT_AVAILABLE = "N/A"
"""What a cell shows when the publisher could not measure a value."""

# The publisher writes sizes with binary multiples and one letter ("25.34M", "512B").
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([BKMGTPEZY]?)\s*$", re.IGNORECASE)
_MULTIPLES = "KMGTPEZY"


def to_number(value: object) -> float | None:
    """``value`` as a finite float, or ``None`` for ``"N/A"``, null and anything unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_size(value: object) -> int | None:
    """Bytes from a human size such as ``"25.34M"``; plain numbers are bytes already."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match is None:
            return None
        unit = match.group(2).upper()
        power = _MULTIPLES.index(unit) + 1 if unit and unit != "B" else 0
        return int(float(match.group(1)) * 1024**power)
    number = to_number(value)
    return None if number is None or number < 0 else int(number)


def format_size(size: int | None) -> str:
    """``size`` bytes the way the publisher writes them (``"25.34M"``, ``"512B"``)."""
    return NOT_AVAILABLE if size is None else human_bytes(size)


def format_percent(value: float | None) -> str:
    """A percentage with one decimal, or ``"N/A"``."""
    return NOT_AVAILABLE if value is None else f"{value:.1f}"


def format_age(seconds: float | None) -> str:
    """An age like ``0:05``, ``1:02:03`` (under a day) or ``3d 4h``."""
    if seconds is None or seconds < 0:
        return NOT_AVAILABLE
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
