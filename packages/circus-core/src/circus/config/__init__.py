"""INI configuration: files in, a typed and immutable :class:`CircusConfig` out.

``load_config(path)`` reads the main file and its includes; everything else is
pure. The option tables (``WATCHER_OPTIONS``, ``SOCKET_OPTIONS``,
``CIRCUS_OPTIONS``) are shared with the ``set`` command through
:func:`parse_option`.
"""

from __future__ import annotations

from ..errors import ConfigError
from ._load import load_config, parse_config_text
from ._model import CircusConfig
from ._options import (
    CIRCUS_OPTIONS,
    HOOK_NAMES,
    SOCKET_OPTIONS,
    WATCHER_OPTIONS,
    Option,
    parse_option,
)

__all__ = [
    "CIRCUS_OPTIONS",
    "HOOK_NAMES",
    "SOCKET_OPTIONS",
    "WATCHER_OPTIONS",
    "CircusConfig",
    "ConfigError",
    "Option",
    "load_config",
    "parse_config_text",
    "parse_option",
]
