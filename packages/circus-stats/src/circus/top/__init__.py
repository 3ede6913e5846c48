"""circus-top: a top-like console over circusd-stats's stats channel.

The pieces, each usable alone:

* :class:`StatsModel` ingests ``[topic, json]`` messages and forgets stale ones;
* :func:`render` turns a model and a :class:`ViewState` into screen lines;
* :func:`main` is the ``circus-top`` command, a thin curses shell over both.
"""

from __future__ import annotations

from circus.top._cli import main
from circus.top._model import StatsModel
from circus.top._render import Line, Style, render, waiting_message
from circus.top._topics import Topic, parse_topic
from circus.top._version import __version__
from circus.top._view import SortColumn, ViewState

__all__ = [
    "Line",
    "SortColumn",
    "StatsModel",
    "Style",
    "Topic",
    "ViewState",
    "__version__",
    "main",
    "parse_topic",
    "render",
    "waiting_message",
]
