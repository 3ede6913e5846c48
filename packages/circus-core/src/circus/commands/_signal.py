"""``signal`` (send a signal, no events) and ``kill`` (the stop sequence, then respawn)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING

from circus._base.parsers import parse_signal
from circus.errors import MessageError

from ._props import Props
from ._registry import HandlerResult, ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.process import Process
    from circus.watcher import Watcher


def _signum(props: Props, default: object = None) -> int | None:
    """``signum`` as an int: a number, a numeric string, ``HUP`` or ``SIGHUP``."""
    raw = props.raw.get("signum")
    if raw is None:
        if default is None:
            raise MessageError("message invalid 'signum' is missing")
        return None
    if isinstance(raw, (bool, float, list, dict)):
        raise MessageError(f"signal invalid: expected a signal name or number, got {raw!r}")
    try:
        return parse_signal(raw)
    except ValueError as exc:
        raise MessageError(f"signal invalid: unknown signal {raw!r} ({exc})") from None


def _process(watcher: Watcher, pid: int) -> Process:
    proc = watcher.processes.get(pid)
    if proc is None:
        raise MessageError(f"process {pid} not found in '{watcher.name}'")
    return proc


@command("signal")
def signal_(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Send a signal to a watcher's processes, one process, its children or one child."""
    watcher = props.watcher(arbiter)
    signum = _signum(props)
    assert signum is not None
    pid = props.integer("pid", None)
    childpid = props.integer("childpid", None)
    children = props.flag("children", False)
    recursive = props.flag("recursive", False)
    if childpid is not None and pid is None:
        raise MessageError("property 'childpid' needs 'pid', the process it is a child of")
    targets = [_process(watcher, pid)] if pid is not None else list(watcher.processes.values())
    if childpid is not None:
        if not targets[0].is_child(childpid):
            raise MessageError(f"process {childpid} is not a child of process {pid} "
                               f"of '{watcher.name}'")
        with contextlib.suppress(ProcessLookupError):
            os.kill(childpid, signum)
        return None
    if children:
        for proc in targets:
            proc.send_signal_children(signum, recursive=recursive)
        return None
    if "before_signal" not in watcher.hooks and "after_signal" not in watcher.hooks:
        for proc in targets:
            _send(proc, signum, recursive)
        return None

    async def through_hooks() -> ReplyFields:
        for proc in targets:
            if not await watcher.hooks.run(watcher, "before_signal", pid=proc.pid,
                                           signum=signum):
                continue
            _send(proc, signum, recursive)
            await watcher.hooks.run(watcher, "after_signal", pid=proc.pid, signum=signum)
        return None

    return through_hooks()


def _send(proc: Process, signum: int, recursive: bool) -> None:
    if recursive:
        # Listed before the parent is signalled: it may exit and orphan them.
        descendants = proc.children(recursive=True)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signum)
    if recursive:
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


@command("kill")
def kill(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Stop one process (or all) with the stop sequence; the watcher then respawns them."""
    watcher = props.watcher(arbiter)
    pid = props.integer("pid", None)
    signum = _signum(props, default=False)
    # circusctl sends graceful_timeout as a string: numbers in strings are accepted.
    timeout = props.number("graceful_timeout", None)
    if timeout is not None and not timeout >= 0:
        raise MessageError(f"property 'graceful_timeout': expected a non-negative number of "
                           f"seconds, got {props.raw['graceful_timeout']!r}")

    async def run() -> ReplyFields:
        if pid is not None:
            proc = watcher.processes.get(pid)
            targets = [proc] if proc is not None else []  # unknown pid: nothing to do
        else:
            targets = list(watcher.processes.values())
        if not targets:
            return None
        await asyncio.gather(*(watcher.kill_process(p, signum, timeout) for p in targets))
        await watcher.manage_processes()
        return None

    return run()
