"""``publish_action`` (ours): a client says what it did to a watcher, and why.

Plugins and the web console act on watchers through ordinary commands; this
puts a record of each action on the event channel, as the event
``watcher.<name>.action`` with ``{"source", "action", "reason", "time"}``,
so that ``circusctl listen``, other plugins and consoles see who stopped or
killed what. The watcher need not exist any more (a plugin may report after
a ``rm``); its name only has to make a valid topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._manage import check_watcher_name
from ._props import Props
from ._registry import ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter


@command("publish_action")
def publish_action(arbiter: Arbiter, props: Props) -> ReplyFields:
    """Publish ``watcher.<name>.action``: which ``source`` did what ``action``, and why."""
    name = props.text("name")
    check_watcher_name(name)
    source = props.text("source")
    action = props.text("action")
    reason = props.text("reason", "")
    arbiter.events.publish(name, "action", {"source": source, "action": action,
                                            "reason": reason})
    return None
