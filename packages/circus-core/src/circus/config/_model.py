"""The immutable result of loading a configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
    # Values as the option table's parsers made them; readers narrow them by
    # literal key (circus._setup.build) or hand them to Watcher.load_from_config.
    circus: Mapping[str, object]
    watchers: tuple[Mapping[str, object], ...]
    sockets: tuple[Mapping[str, object], ...]
    plugins: tuple[Mapping[str, str], ...]
    env: Mapping[str, str]

    def watcher(self, name: str) -> Mapping[str, object]:
        """Return the watcher called ``name`` (case-insensitive); KeyError if none."""
        wanted = name.lower()
        for watcher in self.watchers:
            if str(watcher["name"]).lower() == wanted:
                return watcher
        raise KeyError(name)
