"""Turn command-line words into the typed values the daemon expects."""

from __future__ import annotations

import signal
from typing import TypeAlias

OptionValue: TypeAlias = "int | float | str | dict[str, str] | None"
"""A watcher option's value as ``set`` sends it (bools are ints here)."""


class UsageError(Exception):
    """A command's arguments are wrong; the message says which and why."""


_INT_KEYS = frozenset({"numprocesses", "max_retry", "max_age", "max_age_variance", "priority"})
_FLOAT_KEYS = frozenset({"warmup_delay", "graceful_timeout", "retry_in"})
_BOOL_KEYS = frozenset({
    "send_hup", "stop_children", "shell", "copy_env", "copy_path", "respawn", "singleton",
    "close_child_stdin", "close_child_stdout", "close_child_stderr", "use_sockets",
    "on_demand", "autostart",
})
_STREAM_INT_SUFFIXES = (".max_bytes", ".backup_count")
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


def to_int(key: str, text: str) -> int:
    """``text`` as an int, or a UsageError naming ``key``."""
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{key}: expected an integer, got {text!r}") from None


def to_float(key: str, text: str) -> float:
    """``text`` as a float, or a UsageError naming ``key``."""
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{key}: expected a number, got {text!r}") from None


def to_bool(key: str, text: str) -> bool:
    """``text`` (true/false, yes/no, on/off, 1/0) as a bool."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UsageError(f"{key}: expected true or false, got {text!r}")


def to_signum(text: str) -> int:
    """A signal given as a number, ``HUP``, ``SIGHUP`` or ``SIGRTMIN+1``, as its number."""
    if text.lstrip("-").isdigit():
        number = int(text)
        if number <= 0 or number >= signal.NSIG:
            raise UsageError(f"signal number {number} is out of range (1-{signal.NSIG - 1})")
        return number
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    base, plus, offset = name.partition("+")
    if plus and base in ("SIGRTMIN", "SIGRTMAX") and offset.isdigit():
        return int(getattr(signal, base)) + int(offset)
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise UsageError(f"unknown signal {text!r} (use a number or a name like HUP)") from None


def check_signal(text: str) -> str:
    """Validate a signal word and return it unchanged (the daemon parses names itself)."""
    to_signum(text)
    return text


def to_mapping(key: str, text: str, sep: str) -> dict[str, str]:
    """``a<sep>1,b<sep>2`` as ``{"a": "1", "b": "2"}``."""
    result: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, found, value = item.partition(sep)
        if not found or not name:
            raise UsageError(f"{key}: expected name{sep}value[,name{sep}value...], got {text!r}")
        result[name.strip()] = value.strip()
    return result


def convert_option(key: str, text: str) -> OptionValue:
    """The typed value ``set`` sends for watcher option ``key`` given as ``text``."""
    if key in _INT_KEYS:
        return to_int(key, text)
    if key in _FLOAT_KEYS:
        return to_float(key, text)
    if key in _BOOL_KEYS:
        return to_bool(key, text)
    if key == "stop_signal":
        return to_signum(text)
    if key == "env":
        return to_mapping(key, text, "=")
    if key == "hooks":
        return to_mapping(key, text, ":")
    if key in ("uid", "gid"):
        return int(text) if text.isdigit() else text
    if key.startswith("rlimit_"):
        return None if text.lower() in ("unlimited", "none", "null") else to_int(key, text)
    if key.endswith(_STREAM_INT_SUFFIXES):
        return to_int(key, text)
    return text


def option_pairs(words: list[str]) -> dict[str, OptionValue]:
    """``k1 v1 k2 v2`` as a dict of converted values."""
    if len(words) % 2:
        raise UsageError("expected option names and values in pairs: KEY VALUE [KEY VALUE ...]")
    pairs = zip(words[::2], words[1::2], strict=True)
    return {key: convert_option(key, value) for key, value in pairs}
