"""Turning one command line into words, options and patterns.

The rules are papa 1.0.6's wire rules (see the protocol spec, section 1.3):
split on single spaces dropping empty tokens, a token ending in a backslash
joins the next one with a space, leading ``key=value`` tokens are options and a
double-quoted value loses its quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._errors import CommandError


def tokenize(line: str) -> list[str]:
    """Split a stripped command line into arguments, honouring ``\\ `` escapes."""
    tokens: list[str] = []
    pending: str | None = None
    for part in line.split(" "):
        if not part:
            continue
        if pending is not None:
            part = pending + " " + part
            pending = None
        if part.endswith("\\"):
            pending = part[:-1]
        else:
            tokens.append(part)
    if pending is not None:
        # A trailing escape has nothing to join: keep the text without it.
        tokens.append(pending)
    return [token for token in tokens if token]


def split_options(tokens: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Split leading ``key=value`` tokens from the rest.

    Returns:
        The options in the order given (a repeated key keeps its last value)
        and the remaining tokens, starting at the first token without ``=``.

    Raises:
        CommandError: an option has an empty key or an empty value.
    """
    options: dict[str, str] = {}
    split_at = len(tokens)
    for index, token in enumerate(tokens):
        if "=" not in token:
            split_at = index
            break
        key, value = token.split("=", 1)
        quoted = len(value) >= 2 and value[0] == value[-1] == '"'
        if quoted:
            value = value[1:-1]
        if not key:
            raise CommandError(f'Missing option name in "{token}"')
        if not value and not quoted:
            # `key=""` is an empty value (clients send empty env vars so);
            # a bare `key=` is almost always a mistake.
            raise CommandError(f'Missing value for option "{key}"')
        options[key] = value
    return options, list(tokens[split_at:])


def match_word(word: str, choices: Iterable[str]) -> str | None:
    """Return the choice that ``word`` abbreviates, case-insensitively.

    On an ambiguous prefix the alphabetically first choice wins, as in papa.
    """
    lowered = word.lower()
    for choice in sorted(choices):
        if choice.startswith(lowered):
            return choice
    return None


def select_names(names: Iterable[str], patterns: Sequence[str], *, strict: bool) -> list[str]:
    """Return the sorted names that the patterns select.

    Each pattern is an exact name or a prefix ending in ``*``; no pattern, or a
    lone ``*``, selects everything.

    Raises:
        CommandError: ``strict`` is set and an exact name is missing.
    """
    available = sorted(names)
    if not patterns or "*" in patterns:
        return available
    present = set(available)
    chosen: set[str] = set()
    for pattern in patterns:
        if pattern.endswith("*"):
            prefix = pattern[:-1]
            chosen.update(name for name in available if name.startswith(prefix))
        elif pattern in present:
            chosen.add(pattern)
        elif strict:
            raise CommandError(f"{pattern} not found")
    return sorted(chosen)


def check_name(kind: str, name: str) -> None:
    """Refuse names that would break the client's parsing or wildcard matching."""
    if ":" in name:
        raise CommandError(f'{kind} names cannot contain ":"')
    if "*" in name:
        raise CommandError(f'{kind} names cannot contain "*"')


def parse_size(text: str) -> int:
    """Parse a byte count with an optional k, m or g suffix (powers of 1024)."""
    multipliers = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    digits, factor = text, 1
    if text and text[-1].lower() in multipliers:
        digits, factor = text[:-1], multipliers[text[-1].lower()]
    if not digits.isdigit():
        raise CommandError(f'Bad size "{text}"')
    return int(digits) * factor


def parse_int(key: str, text: str) -> int:
    """Parse a decimal integer option value."""
    try:
        return int(text, 10)
    except ValueError:
        raise CommandError(f'Bad value for "{key}": {text}') from None


def parse_flag(key: str, text: str) -> bool:
    """Parse a boolean option value such as ``1``, ``0``, ``true`` or ``no``."""
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise CommandError(f'Bad value for "{key}": {text}')
