"""The reload flavours of one watcher (upstream's semantics).

* not active: a plain start;
* ``graceful=False``: stop, then start;
* ``send_hup``: SIGHUP to every process, nothing respawned;
* ``sequential``: oldest first, stop one, spawn its replacement, warmup_delay;
* default: spawn a full new set first, then retire the old processes, so a
  socket server never has a moment without workers.

Runs with the watcher lock held.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circus.watcher import Watcher


async def reload_watcher(
    watcher: Watcher, graceful: bool, sequential: bool
) -> dict[str, list[int]]:
    """Reload ``watcher``; returns the ``stopped``, ``started`` and ``kept`` pids."""
    from circus.watcher import WatcherState

    old = watcher.pids
    if watcher.state is not WatcherState.ACTIVE:
        return {"stopped": [], **(await watcher._start())}
    if not graceful:
        await watcher._stop()
        return {"stopped": old, **(await watcher._start())}
    if watcher.send_hup:
        for proc in list(watcher.processes.values()):
            proc.send_signal(signal.SIGHUP)
        watcher.notify_event("reload", {})
        return {"stopped": [], "started": [], "kept": old}
    # Reload spawns are spawns too: the spawn hooks run and may stop the watcher.
    if sequential:
        for proc in [watcher.processes[p] for p in old if p in watcher.processes]:
            await watcher.kill_process(proc)
            if not (await watcher._spawn_with_hooks())[1]:
                break
            if watcher.warmup_delay:
                await asyncio.sleep(watcher.warmup_delay)
    else:
        for _ in range(watcher.numprocesses):
            if not (await watcher._spawn_with_hooks())[1]:
                break
        else:
            await watcher._retire_surplus()
    watcher.notify_event("reload", {})
    alive = watcher.processes
    return {
        "stopped": [p for p in old if p not in alive],
        "started": [p for p in watcher.pids if p not in old],
        "kept": [p for p in old if p in alive],
    }
