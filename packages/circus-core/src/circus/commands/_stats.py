"""``stats`` and ``dstats``: process statistics, gathered off the fast path.

Both are coroutine commands registered with ``always_wait``: the statistics
*are* the reply. Validation (watcher, pid) happens before the coroutine, so
bad input is answered at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from circus._watching.process_info import Info, daemon_info, gather_infos
from circus.errors import MessageError

from ._dispatch import RawJSON
from ._props import Props
from ._registry import Operation, ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.process import Process
    from circus.watcher import Watcher

StatsResult = Operation


@command("dstats", always_wait=True)
def dstats(arbiter: Arbiter, props: Props) -> StatsResult:
    """Statistics of the circusd process itself."""

    async def run() -> ReplyFields:
        return {"info": await daemon_info()}

    return run()


@command("stats", always_wait=True)
def stats(arbiter: Arbiter, props: Props) -> StatsResult:
    """Statistics of every watcher's processes, one watcher's, or one process's."""
    extended = bool(props.flag("extended", False))
    if "name" not in props:
        if "process" in props:
            props.text("name")  # a process needs its watcher: "'name' is missing"
        return _all_watchers(list(arbiter.watchers), extended)
    watcher = props.watcher(arbiter)
    if "process" in props:
        pid = props.integer("process")
        proc = watcher.processes.get(pid)
        if proc is None or not proc.is_alive:
            raise MessageError(f"process {pid} not found in {props.raw['name']!r}")
        return _one_process(watcher, proc, extended)
    return _one_watcher(watcher, props.text("name"), extended)


async def _watcher_infos(
    watchers: list[Watcher], extended: bool
) -> dict[str, dict[str, Info | str]]:
    procs = {w.name: [p for p in w.processes.values() if p.is_alive] for w in watchers}
    tracked = {p.pid: p for group in procs.values() for p in group}
    infos = await gather_infos(tracked, tracked=tracked)
    result: dict[str, dict[str, Info | str]] = {}
    for watcher in watchers:
        per_pid: dict[str, Info | str] = {}
        for proc in procs[watcher.name]:
            per_pid[str(proc.pid)] = await _process_entry(watcher, proc, infos.get(proc.pid),
                                                         extended)
        result[watcher.name] = per_pid
    return result


async def _process_entry(watcher: Watcher, proc: Process, info: Info | str | None,
                         extended: bool) -> Info | str:
    if not isinstance(info, dict):
        return info or "No such process (stopped?)"
    info["started"] = proc.started
    info["wid"] = proc.wid
    info["age"] = round(proc.age(), 2)
    if extended and "extended_stats" in watcher.hooks:
        # The hook adds its keys to ``stats`` in place, as upstream's do.
        await watcher.hooks.run(watcher, "extended_stats", pid=proc.pid, stats=info)
    return info


_ENCODE_CHUNK = 50  # process entries JSON-encoded between two yields (~0.25 ms)


async def _encode_chunked(entries: Mapping[str, object]) -> RawJSON:
    """``entries`` as a JSON object, encoded a chunk at a time so the loop keeps serving."""
    parts = []
    for index, (key, value) in enumerate(entries.items()):
        parts.append(f"{json.dumps(key)}: {json.dumps(value, default=str)}")
        if index % _ENCODE_CHUNK == _ENCODE_CHUNK - 1:
            await asyncio.sleep(0)
    return RawJSON("{" + ", ".join(parts) + "}")


async def _all_watchers(watchers: list[Watcher], extended: bool) -> ReplyFields:
    infos = await _watcher_infos(watchers, extended)
    encoded = {name: await _encode_chunked(per_pid) for name, per_pid in infos.items()}
    body = ", ".join(f"{json.dumps(name)}: {text}" for name, text in encoded.items())
    return {"infos": RawJSON("{" + body + "}")}


async def _one_watcher(watcher: Watcher, name: str, extended: bool) -> ReplyFields:
    infos = await _watcher_infos([watcher], extended)
    return {"name": name, "info": await _encode_chunked(infos[watcher.name])}


async def _one_process(watcher: Watcher, proc: Process, extended: bool) -> ReplyFields:
    infos = await gather_infos([proc.pid], tracked={proc.pid: proc})
    return {"process": proc.pid,
            "info": await _process_entry(watcher, proc, infos.get(proc.pid), extended)}
