"""The immutable result of loading a configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CircusConfig:
    """A loaded configuration: typed, defaults applied, read-only.

    ``watchers`` holds one mapping per ``[watcher:NAME]`` in file order, each
    exactly the keyword arguments of ``Watcher(**kwargs)``.
    """

    path: str
    circus: Mapping[str, Any]
    watchers: tuple[Mapping[str, Any], ...]
    sockets: tuple[Mapping[str, Any], ...]
    plugins: tuple[Mapping[str, Any], ...]
    env: Mapping[str, str]

    def watcher(self, name: str) -> Mapping[str, Any]:
        """Return the watcher called ``name`` (case-insensitive); KeyError if none."""
        wanted = name.lower()
        for watcher in self.watchers:
            if str(watcher["name"]).lower() == wanted:
                return watcher
        raise KeyError(name)
