"""Parsers for option values given as text (config files, ``set`` commands).

Each parser accepts the already-typed value too, so the Python API and the
INI loader share them. They raise ``ValueError`` whose message says what was
expected; callers add where the value came from.
"""

from __future__ import annotations

import re
import signal

_TRUE = {"1", "yes", "true", "on", "y"}
_FALSE = {"0", "no", "false", "off", "n"}


def parse_bool(value: object) -> bool:
    """Parse true/false/yes/no/on/off/1/0 (any case) into a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected a boolean (true/false, yes/no, on/off, 1/0)")


def parse_int(value: object) -> int:
    """Parse a decimal integer."""
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_duration(value: object) -> float:
    """Parse a non-negative number of seconds; floats are allowed."""
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds")
    try:
        seconds = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    except ValueError:
        raise ValueError("expected a number of seconds, such as 5 or 0.5") from None
    if seconds < 0 or seconds != seconds:
        raise ValueError("expected a non-negative number of seconds")
    return seconds


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(value: object) -> int:
    """Parse a byte count such as ``1048576``, ``250M`` or ``1G``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("expected a non-negative size")
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise ValueError("expected a size in bytes, such as 1048576, 250M or 1G")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


def parse_octal(value: object) -> int:
    """Parse a file-mode mask such as ``022`` or ``0o022`` (always octal)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text.startswith("0o"):
        text = text[2:]
    try:
        mask = int(text, 8)
    except ValueError:
        raise ValueError("expected an octal mode such as 022") from None
    if not 0 <= mask <= 0o777:
        raise ValueError("expected an octal mode between 000 and 777")
    return mask


def parse_signal(value: object) -> int:
    """Parse a signal given as a number or a name.

    Names are case-insensitive, the ``SIG`` prefix is optional and real-time
    signals take an offset: ``quit``, ``INT``, ``SIGTERM``, ``3``, ``SIGRTMIN+1``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        signum = value
    else:
        text = str(value).strip().upper()
        signum = int(text) if text.lstrip("-").isdigit() else _signal_by_name(text)
    if not 1 <= signum < signal.NSIG:
        raise ValueError(f"expected a signal number between 1 and {signal.NSIG - 1}")
    return signum


def _signal_by_name(text: str) -> int:
    name = text if text.startswith("SIG") else "SIG" + text
    offset = 0
    match = re.fullmatch(r"(SIGRTMIN|SIGRTMAX)\s*([+-]\s*\d+)?", name)
    if match:
        base = int(getattr(signal, match.group(1)))
        offset = int(match.group(2).replace(" ", "")) if match.group(2) else 0
        signum = base + offset
        if not signal.SIGRTMIN <= signum <= signal.SIGRTMAX:
            raise ValueError("real-time signal out of range SIGRTMIN..SIGRTMAX")
        return signum
    member = getattr(signal.Signals, name, None)
    if member is None:
        raise ValueError("expected a signal name (TERM, SIGQUIT, SIGRTMIN+1) or number")
    return int(member)


def signal_name(signum: int) -> str:
    """Return the conventional name of a signal number (``SIGTERM``)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        if signal.SIGRTMIN <= signum <= signal.SIGRTMAX:
            return f"SIGRTMIN+{signum - signal.SIGRTMIN}"
        return str(signum)
