"""Commands that start, stop, restart and reload watchers, reloadconfig and quit.

``start``/``stop``/``restart`` take a ``name`` pattern and a ``match`` method
(``simple``, ``glob`` (the default) or ``regex``), applied to lowercased names.
One match is a watcher operation whose ``waiting`` reply carries ``info``;
several matches, or no name, are one arbiter operation in priority order.
Operations over several watchers queue behind each other (arbiter lock);
operations on one watcher queue on that watcher's lock.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

from circus._reconfig.reload_config import load_new_config
from circus._watching.depends import DependencyError
from circus.errors import CircusOSError, CommandError, MessageError

from ._props import Props
from ._registry import Operation, ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher


def match_watchers(arbiter: Arbiter, props: Props) -> list[Watcher] | None:
    """The watchers ``name``/``match`` select; None when no name was given.

    Raises:
        MessageError: unknown match method, bad regex, or nothing matched.
    """
    if "name" not in props:
        return None
    pattern = props.text("name")
    method = props.text("match", "glob")
    wanted = pattern.lower()
    if method == "simple":
        found = [w for w in arbiter.watchers if w.name.lower() == wanted]
    elif method == "glob":
        found = [w for w in arbiter.watchers if fnmatch.fnmatchcase(w.name.lower(), wanted)]
    elif method == "regex":
        try:
            regex = re.compile(wanted)
        except re.error as exc:
            raise MessageError(f"invalid regex {pattern!r}: {exc}") from None
        found = [w for w in arbiter.watchers if regex.match(w.name.lower())]
    else:
        raise MessageError(f"unknown match method {method}")
    if not found:
        raise MessageError(f"program {pattern} not found")
    return found


@command("start")
def start(arbiter: Arbiter, props: Props) -> Operation:
    """Start a watcher, the watchers matching a pattern, or every autostart watcher."""
    targets = match_watchers(arbiter, props)
    if targets is not None and len(targets) == 1:
        watcher = targets[0]

        async def one() -> ReplyFields:
            info = await watcher.start()
            if watcher.fd_shortage is not None:
                raise CircusOSError(f"watcher {watcher.name}: {watcher.fd_shortage}; they "
                                    "start when descriptors free up")
            return {"info": info}

        return one()

    async def several() -> ReplyFields:
        async with arbiter.lock:
            await arbiter.start_watchers(targets)
        return None

    return several()


@command("stop")
def stop(arbiter: Arbiter, props: Props) -> Operation:
    """Stop a watcher, the watchers matching a pattern, or every watcher (circusd stays up)."""
    targets = match_watchers(arbiter, props)
    if targets is not None and len(targets) == 1:
        watcher = targets[0]

        async def one() -> ReplyFields:
            await watcher.stop()
            return {"info": None}

        return one()

    async def several() -> ReplyFields:
        async with arbiter.lock:
            await arbiter.stop_watchers(targets)
        return None

    return several()


@command("restart")
def restart(arbiter: Arbiter, props: Props) -> Operation:
    """Restart a watcher, the matching watchers, or every watcher (circusd stays up)."""
    targets = match_watchers(arbiter, props)
    if targets is not None and len(targets) == 1:
        watcher = targets[0]

        async def one() -> ReplyFields:
            return {"info": await watcher.restart()}

        return one()

    async def several() -> ReplyFields:
        async with arbiter.lock:
            chosen = list(arbiter.watchers) if targets is None else targets
            # Watchers running before the restart come back even without
            # autostart; stopped autostart ones start, as at boot.
            wanted = [w for w in chosen if w.autostart or w.status() == "active"]
            await arbiter.stop_watchers(chosen)
            refused = []
            for watcher in sorted(wanted, key=lambda w: w.priority, reverse=True):
                if not arbiter.quitting and watcher in arbiter.watchers:
                    try:
                        await watcher.start()
                    except DependencyError as exc:  # the others still start
                        refused.append(str(exc))
            if refused:
                raise CommandError("; ".join(refused))
        return None

    return several()


@command("reload")
def reload(arbiter: Arbiter, props: Props) -> Operation:
    """Reload one watcher (graceful, sequential), or everything as SIGHUP does."""
    graceful = props.flag("graceful", True)
    sequential = props.flag("sequential", False)
    if "name" in props:
        watcher = props.watcher(arbiter)

        async def one() -> ReplyFields:
            return {"info": await watcher.reload(graceful=graceful, sequential=sequential)}

        return one()

    async def everything() -> ReplyFields:
        await arbiter.reload(graceful=graceful, sequential=sequential)
        return None

    return everything()


@command("reloadconfig")
def reloadconfig(arbiter: Arbiter, props: Props) -> Operation:
    """Re-read the config file and apply only what changed."""
    # Read now, so a broken file is reported even without ``waiting``.
    config = load_new_config(arbiter)

    async def run() -> ReplyFields:
        await arbiter.reload_config(config)
        return None

    return run()


@command("quit")
def quit_(arbiter: Arbiter, props: Props) -> Operation:
    """Stop every watcher, then circusd itself."""

    async def run() -> ReplyFields:
        await arbiter.quit()
        return None

    return run()
