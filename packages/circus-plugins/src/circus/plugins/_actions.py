"""Plugin actions on circusd (stop, start, kill, restart) that are known to have been taken.

Upstream's built-ins cast their actions. A cast gets no reply, and upstream's
circusd drops a command that meets its global lock ("arbiter is already
running ..."), so a flapping watcher could go on flapping. Actions here are
calls: a refusal for that reason is retried on the plugin's loop a few times,
any other failure is logged on one line naming the plugin, watcher and action.

Each action taken is logged and published on circusd's event channel as
``watcher.<name>.action`` ({source, action, reason}) through circusd's
``publish_action`` command; a circusd without it (upstream's) just logs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from circus.client.protocol import UNKNOWN_COMMAND

if TYPE_CHECKING:
    from circus.plugins._base import CircusPlugin

log = logging.getLogger("circus.plugins")

ATTEMPTS = 20
RETRY_DELAY = 0.25  # seconds between two tries of a command circusd was too busy for


def act(plugin: CircusPlugin, command: str, _attempt: int = 1, *, reason: str = "",
        **props: Any) -> None:
    """Send ``command`` with ``props`` to circusd; retry while it is busy, log failures.

    ``reason`` says why; with the action it is logged and published once
    circusd has carried the command out.
    """
    target = props.get("name", "?")
    try:
        reply = plugin.call(command, **props)
    except Exception as exc:
        log.error("plugin %s: cannot %s %s: %s", plugin._label(), command, target, exc)
        return
    if reply.get("status") != "error":
        _report(plugin, command, str(target), props, reason)
        return
    failure = str(reply.get("reason"))
    if "already running" in failure and _attempt < ATTEMPTS:
        plugin.loop.call_later(RETRY_DELAY, lambda: act(plugin, command, _attempt + 1,
                                                        reason=reason, **props))
        return
    log.error("plugin %s: circusd refused to %s %s: %s", plugin._label(), command, target,
              failure)


def _report(plugin: CircusPlugin, command: str, target: str, props: dict[str, Any],
            reason: str) -> None:
    action = command if "pid" not in props else f"{command} pid {props['pid']}"
    log.info("plugin %s: %s %s%s", plugin._label(), action, target,
             f" ({reason})" if reason else "")
    try:
        reply = plugin.call("publish_action", name=target, source=plugin._label(),
                            action=action, reason=reason)
    except Exception as exc:
        log.debug("plugin %s: action not published: %s", plugin._label(), exc)
        return
    if reply.get("status") == "error" and reply.get("errno") != UNKNOWN_COMMAND:
        log.warning("plugin %s: action not published: %s", plugin._label(),
                    reply.get("reason"))
