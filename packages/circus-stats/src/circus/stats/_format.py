"""The human-readable strings of the stats payloads (upstream's wire formats)."""

from __future__ import annotations

_UNITS = "KMGTPEZY"


def human_bytes(count: int) -> str:
    """``count`` bytes as upstream prints them: ``"512B"``, ``"1.50K"``, ``"25.34M"``."""
    if count < 1024:
        return f"{count}B"
    value = float(count)
    for unit in _UNITS[:-1]:
        value /= 1024.0
        if value < 1024.0:
            return f"{value:.2f}{unit}"
    return f"{value / 1024.0:.2f}{_UNITS[-1]}"


def cpu_clock(seconds: float) -> str:
    """CPU time as ``"m:ss.cc"`` (minutes are not wrapped into hours)."""
    centis = round(seconds * 100)
    minutes, centis = divmod(centis, 6000)
    return f"{minutes}:{centis // 100:02d}.{centis % 100:02d}"
