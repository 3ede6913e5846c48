"""The key router of watcher options: where a key goes, and the rules its value obeys.

A watcher option arrives three ways: as a ``[watcher:NAME]`` line (the INI
loader), in a ``set`` command and in an ``add`` command. All three route each
key through :func:`route_key` and check values with the functions below, so a
rule (a non-negative ``backup_count``, a known ``rotate_when``, a dotted hook
target, a known resource limit) holds whichever way the key came. Callers add
only what is theirs: the INI loader resolves paths against the file's
directory and locates errors at a line; ``set``/``add`` accept JSON values.

Every check raises ``ValueError`` whose text says what was expected.
"""

from __future__ import annotations

import re
import resource
from dataclasses import dataclass
from typing import Literal

from .._base.parsers import parse_bool, parse_int, parse_size
from ._errors import suggestion
from ._options import HOOK_NAMES, WATCHER_OPTIONS

DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
"""A dotted Python path: ``package.module.name`` (at least one dot)."""

STREAMS = ("stdout_stream", "stderr_stream")

_ROTATE_WHEN = re.compile(r"^(S|M|H|D|W[0-6]|MIDNIGHT)$", re.IGNORECASE)

RouteKind = Literal["option", "stream", "stream_key", "hooks", "hook", "rlimit", "env", "free",
                    "unknown"]


@dataclass(frozen=True)
class Route:
    """Where one key goes.

    ``kind``: ``option`` (a key of ``WATCHER_OPTIONS``), ``stream`` (a whole
    stream mapping), ``stream_key`` (``stdout_stream.<sub>``), ``hooks`` (a
    whole mapping of hooks), ``hook`` (``hooks.<sub>``), ``rlimit``
    (``rlimit_<sub>``), ``env`` (a whole environment), ``free`` (a dotted key
    of a plugin's, kept as text), or ``unknown``. ``attr`` is the watcher
    option the key feeds; ``sub`` the part after the prefix.
    """

    kind: RouteKind
    attr: str
    sub: str = ""


def route_key(key: str) -> Route:
    """Route ``key`` (already stripped and lowercased)."""
    prefix, dot, rest = key.partition(".")
    if key in WATCHER_OPTIONS:
        return Route("option", key)
    if key.startswith("rlimit_"):
        return Route("rlimit", "rlimits", key[len("rlimit_"):])
    if dot and prefix == "hooks":
        return Route("hook", "hooks", rest)
    if dot and prefix in STREAMS and rest:
        return Route("stream_key", prefix, rest)
    if key in STREAMS:
        return Route("stream", key)
    if key == "hooks":
        return Route("hooks", "hooks")
    if key == "env":
        return Route("env", "env")
    if dot:
        # Free-form dotted keys (flapping.max_retry, ...) are for plugins.
        return Route("free", key)
    return Route("unknown", key)


def rlimit_value(name: str, value: object) -> int | None:
    """The limit of ``rlimit_<name>``: a non-negative integer; nothing means unlimited."""
    if not name or not hasattr(resource, "RLIMIT_" + name.upper()):
        known = sorted(n[7:].lower() for n in dir(resource) if n.startswith("RLIMIT_"))
        raise ValueError(f"unknown resource limit '{name}'; expected rlimit_ followed by one of "
                         + ", ".join(known))
    if value is None or (isinstance(value, str) and value.strip().lower() in (
            "", "unlimited", "infinity")):
        return None
    try:
        limit = parse_int(value)
    except ValueError as exc:
        raise ValueError(f"{exc} (or nothing, meaning unlimited)") from None
    if limit < 0:
        raise ValueError("expected a non-negative integer (or nothing, meaning unlimited)")
    return limit


def hook_value(name: str, value: object) -> tuple[str, bool] | None:
    """The ``(dotted.path, ignore_errors)`` of ``hooks.<name>``; None for an empty value.

    The value is ``dotted.path[, true|false]`` as text, or a 2-item list.
    """
    if name not in HOOK_NAMES:
        raise ValueError(f"unknown hook '{name}'{suggestion(name, HOOK_NAMES)}; valid hooks: "
                         + ", ".join(HOOK_NAMES))
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        target, flag = value
    elif isinstance(value, str):
        target, _, flag = value.partition(",")
    else:
        raise ValueError("expected 'dotted.path[, true|false]'")
    target = str(target).strip()
    if not DOTTED.match(target):
        raise ValueError("expected a dotted path such as mypkg.hooks.func[, true|false]")
    try:
        ignore_errors = parse_bool(flag) if str(flag).strip() else False
    except ValueError as exc:
        raise ValueError(f"ignore-errors flag: {exc}") from None
    return target, ignore_errors


def stream_value(sub: str, value: object) -> object:
    """The value of ``<stream>.<sub>``: sizes, counts, flags and ``rotate_when`` checked."""
    text = value.strip() if isinstance(value, str) else value
    if sub == "max_bytes":
        return parse_size(text)
    if sub in ("backup_count", "rotate_interval"):
        number = parse_int(text)
        if number < 0:
            raise ValueError("expected a non-negative integer")
        return number
    if sub == "utc":
        return parse_bool(text)
    if sub == "rotate_when":
        if not isinstance(text, str) or not _ROTATE_WHEN.match(text):
            raise ValueError("expected one of S, M, H, D, W0..W6, midnight")
        return text.upper()
    return value
