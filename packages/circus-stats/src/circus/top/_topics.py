"""Splitting a stats-channel topic into who it is about.

Topics are ``stat.<owner>.<id>`` (one process, or one socket when the owner is
``sockets``) and ``stat.<owner>`` (the owner's aggregate). Watcher names may
contain dots, so the owner is everything up to the *last* dot, and only when
the last field is an integer; otherwise the whole rest is an aggregate topic.
``stat.web.2`` is still ambiguous (watcher ``web.2``'s aggregate, or pid 2 of
``web``), so the payload settles it: only aggregates carry a list of pids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

PREFIX = "stat."
"""The prefix every stats topic starts with (and what circus-top subscribes to)."""

SOCKETS = "sockets"
"""The owner name of socket topics."""


class Topic(NamedTuple):
    """Who a stats message is about.

    Attributes:
        owner: the watcher name, ``circus`` or ``sockets``.
        ident: the pid (or socket fd), or ``None`` for the owner's aggregate.
    """

    owner: str
    ident: int | None


def parse_topic(topic: str, payload: Mapping[str, object]) -> Topic | None:
    """The :class:`Topic` of a message, or ``None`` if the topic is not a stats topic."""
    if not topic.startswith(PREFIX):
        return None
    rest = topic[len(PREFIX):]
    head, dot, tail = rest.rpartition(".")
    if dot and head and tail.isascii() and tail.isdigit() and not isinstance(
        payload.get("pid"), list
    ):
        return Topic(head, int(tail))
    if not rest or rest.startswith(".") or rest.endswith("."):
        return None
    return Topic(rest, None)
