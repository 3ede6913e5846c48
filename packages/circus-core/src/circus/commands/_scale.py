"""``incr`` and ``decr``: change a watcher's process count by ``nb`` (default 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.errors import CircusOSError, MessageError

from ._props import Props
from ._registry import HandlerResult, ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter


def _scale(arbiter: Arbiter, props: Props, sign: int) -> HandlerResult:
    watcher = props.watcher(arbiter)
    nb = props.integer("nb", 1)
    if nb < 0:
        raise MessageError(f"property 'nb': expected a non-negative integer, got {nb}")
    if watcher.singleton:
        # Upstream answers at once and changes nothing.
        return {"numprocesses": watcher.numprocesses, "singleton": True}

    async def run() -> ReplyFields:
        count = await (watcher.incr(nb) if sign > 0 else watcher.decr(nb))
        if watcher.fd_shortage is not None:
            raise CircusOSError(f"watcher {watcher.name}: {watcher.fd_shortage}; numprocesses "
                                f"is {count}, the rest start when descriptors free up")
        return {"numprocesses": count}

    return run()


@command("incr")
def incr(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Add ``nb`` processes to a watcher.

    Ours: when circusd is short of file descriptors (RLIMIT_NOFILE) for the new
    processes, the reply is an error (errno 4) saying how many did not start;
    numprocesses keeps the new value and they start when descriptors free up.
    """
    return _scale(arbiter, props, +1)


@command("decr")
def decr(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Remove ``nb`` processes from a watcher, oldest first."""
    return _scale(arbiter, props, -1)
