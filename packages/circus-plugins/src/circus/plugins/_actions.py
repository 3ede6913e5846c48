"""Plugin actions on circusd (stop, start, kill, restart) that are known to have been taken.

Upstream's built-ins cast their actions. A cast gets no reply, and upstream's
circusd drops a command that meets its global lock ("arbiter is already
running ..."), so a flapping watcher could go on flapping. Actions here are
calls: a refusal for that reason is retried on the plugin's loop a few times,
any other failure is logged on one line naming the plugin, watcher and action.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from circus.plugins._base import CircusPlugin

log = logging.getLogger("circus.plugins")

ATTEMPTS = 20
RETRY_DELAY = 0.25  # seconds between two tries of a command circusd was too busy for


def act(plugin: CircusPlugin, command: str, _attempt: int = 1, **props: Any) -> None:
    """Send ``command`` with ``props`` to circusd; retry while it is busy, log failures."""
    target = props.get("name", "?")
    try:
        reply = plugin.call(command, **props)
    except Exception as exc:
        log.error("plugin %s: cannot %s %s: %s", plugin._label(), command, target, exc)
        return
    if reply.get("status") != "error":
        return
    reason = str(reply.get("reason"))
    if "already running" in reason and _attempt < ATTEMPTS:
        plugin.loop.call_later(RETRY_DELAY, lambda: act(plugin, command, _attempt + 1, **props))
        return
    log.error("plugin %s: circusd refused to %s %s: %s", plugin._label(), command, target,
              reason)
