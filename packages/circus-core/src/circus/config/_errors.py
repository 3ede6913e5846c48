"""Building ConfigError messages that say where and what went wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import ConfigError


def show_value(value: str) -> str:
    """Render a value for a message: as written, quoted when it would be unreadable."""
    if not value or "\n" in value or value != value.strip():
        return repr(value)
    return value


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` when a candidate is close, else ``""``."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def located(
    path: str,
    line: int | None,
    section: str | None,
    message: str,
    option: str | None = None,
    value: str | None = None,
    substituted: str | None = None,
) -> ConfigError:
    """Build a ConfigError prefixed with file, line, section and ``option = value``."""
    where = path
    if line:
        where += f", line {line}"
    if section is not None:
        where += f", [{section}]"
    if option is not None:
        where += f" {option}"
        if value is not None:
            where += f" = {show_value(value)}"
            if substituted is not None and substituted != value:
                where += f" (after substitution: {show_value(substituted)})"
    return ConfigError(f"{where}: {message}")
