"""``tail`` (ours): the last lines a watcher's processes wrote.

Answers ``{"lines": [{"pid", "stream", "data", "time"}, ...]}``, oldest first,
from the watcher's ring buffer (``circus._watching.tail``): the same payloads
as the ``watcher.<name>.output`` events, so a client shows the backlog and
then follows the topic. Only watchers with ``publish_output`` keep lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus._watching.tail import TAIL_LINES
from circus.errors import MessageError

from ._props import Props
from ._registry import ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

DEFAULT_LINES = 10
"""Lines answered when the request has no ``lines``."""


@command("tail")
def tail(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The last ``lines`` lines of a watcher's output (publish_output watchers)."""
    watcher = props.watcher(arbiter)
    count = props.integer("lines", DEFAULT_LINES)
    if count < 0:
        raise MessageError(f"message invalid 'lines' must be >= 0, got {count}")
    if not watcher.publish_output:
        raise MessageError(f"watcher {watcher.name} keeps no output: "
                           "set its publish_output option to true")
    return {"lines": [dict(line) for line in watcher.tail(min(count, TAIL_LINES))]}
