"""The immutable result of loading a configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CircusConfig:
    """A loaded configuration: typed, defaults applied, read-only.

    * ``path``: the absolute path of the main file.
    * ``circus``: every ``[circus]`` option, parsed, defaults filled in.
    * ``watchers``: one mapping per ``[watcher:NAME]`` in file order, each
      exactly the keyword arguments of ``Watcher(**kwargs)``.
    * ``sockets``: one mapping per ``[socket:NAME]``, every socket option
      parsed (texts, integers, flags; None for "not set") plus ``name``.
    * ``plugins``: one mapping per ``[plugin:NAME]``: ``name``, ``use`` and
      the other keys as raw text, for the plugin to interpret.
    * ``env``: the merged ``[env]`` sections.
    """

    path: str
    # Loosely typed values: the code building arbiters and watchers passes them
    # on by key name to typed parameters; sockets and plugins are read by field.
    circus: Mapping[str, Any]
    watchers: tuple[Mapping[str, Any], ...]
    sockets: tuple[Mapping[str, object], ...]
    plugins: tuple[Mapping[str, str], ...]
    env: Mapping[str, str]

    def watcher(self, name: str) -> Mapping[str, Any]:
        """Return the watcher called ``name`` (case-insensitive); KeyError if none."""
        wanted = name.lower()
        for watcher in self.watchers:
            if str(watcher["name"]).lower() == wanted:
                return watcher
        raise KeyError(name)
