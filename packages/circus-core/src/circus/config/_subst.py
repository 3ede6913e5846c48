"""Load-time substitution: ``$(circus.env.X)`` everywhere, ``$VAR`` in env sections.

Only ``circus.env.*`` is expanded here; the other ``$(circus.X)`` variables
(``circus.wid``, ``circus.sockets.NAME``, ...) depend on the spawn and are left
for the watcher.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CIRCUS_ENV = (
    r"\$\(\s*(?i:circus\.env\.)(?P<paren>[^()\s]+)\s*\)"
    r"|\(\(\s*(?i:circus\.env\.)(?P<double>[^()\s]+)\s*\)\)"
)
_CIRCUS_ENV_RE = re.compile(_CIRCUS_ENV)
# One pass handles both syntaxes so an expanded value is never expanded again.
_ENV_VALUE_RE = re.compile(
    _CIRCUS_ENV + rf"|(?P<dollar>\$\$)|\$\{{(?P<braced>{_NAME})\}}|\$(?P<bare>{_NAME})"
)


class EnvLookup:
    """Variables from several layers, most specific last; exact names beat folded ones."""

    def __init__(self, *layers: Mapping[str, str]) -> None:
        self._exact: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        for layer in layers:
            self._exact.update(layer)
            for name, value in layer.items():
                self._folded[name.lower()] = value

    def get(self, name: str) -> str | None:
        """Return the value of ``name``: exact match first, then case-insensitive."""
        if name in self._exact:
            return self._exact[name]
        return self._folded.get(name.lower())


def substitute_circus_env(value: str, lookup: EnvLookup) -> str:
    """Replace ``$(circus.env.X)`` and ``((circus.env.X))``; unknown names stay as written."""

    def replace(match: re.Match[str]) -> str:
        found = lookup.get(match.group("paren") or match.group("double"))
        return match.group(0) if found is None else found

    return _CIRCUS_ENV_RE.sub(replace, value)


def expand_env_value(value: str, variables: Mapping[str, str]) -> str:
    """Expand an env-section value bash-style.

    ``$VAR`` and ``${VAR}`` come from ``variables`` exactly as named (unknown ones
    become empty, as in a shell); ``$$`` is a literal ``$``; ``$(circus.env.X)`` is
    looked up as everywhere else.
    """
    lookup: EnvLookup | None = None

    def replace(match: re.Match[str]) -> str:
        nonlocal lookup
        if match.group("dollar"):
            return "$"
        name = match.group("braced") or match.group("bare")
        if name:
            return variables.get(name, "")
        if lookup is None:
            lookup = EnvLookup(variables)
        found = lookup.get(match.group("paren") or match.group("double"))
        return match.group(0) if found is None else found

    return _ENV_VALUE_RE.sub(replace, value)
