"""An arbiter run through circus-core's public API, sampling its own tables (soak-addrm).

    python _soak_host.py WORKDIR INTERVAL

Builds an arbiter with :func:`circus.get_arbiter` (no watchers; control and
event endpoints as ipc sockets in WORKDIR), runs it in the main thread as
circusd does, and every INTERVAL seconds appends one JSON line to
WORKDIR/tables.jsonl with what the arbiter holds, read from public state and
from the interpreter: watchers and processes (``numwatchers()``,
``numprocesses()``), asyncio tasks, threads, and the objects the garbage
collector tracks (all of them, and those of ``circus`` classes, by class), and the
interpreter's allocated memory blocks (``sys.getallocatedblocks()``).
While a file WORKDIR/trim exists, a sample also hands the C allocator's free
pages back to the system (``malloc_trim(0)``) and records the RSS after it:
what the process still uses, apart from what it keeps from an earlier peak.
A table that grows with every ``add``/``rm`` shows up in these counts without
the bench importing any private module of circus-core.

The sample runs on the arbiter's loop, so it never reads a table mid-change.
SIGTERM stops the arbiter like circusd's.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import gc
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from circus import get_arbiter


def _own_rss_kib() -> int:
    with open("/proc/self/status", "rb") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(b"VmRSS:"))


def _trimmed_rss_kib() -> int | None:
    """The RSS once glibc returned its free pages (None without glibc)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim(0)
    return _own_rss_kib()


def _tables(arbiter: Any, trim: bool = False) -> dict[str, Any]:
    # A full collection first: garbage awaiting the cyclic collector is not a leak.
    gc.collect()
    objects = gc.get_objects()
    by_class: collections.Counter[str] = collections.Counter()
    for obj in objects:
        cls = type(obj)
        module = getattr(cls, "__module__", None)  # a descriptor on some C types
        if isinstance(module, str) and module.startswith("circus"):
            by_class[f"{module}.{cls.__qualname__}"] += 1
    return {
        "t": time.monotonic(), "watchers": arbiter.numwatchers(),
        "processes": arbiter.numprocesses(), "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(), "gc_objects": len(objects),
        "circus_objects": sum(by_class.values()), "circus_by_class": dict(by_class),
        # Every live allocation of the interpreter, strings and bytes included
        # (which the collector does not track).
        "allocated_blocks": sys.getallocatedblocks(),
        "rss_kib_trimmed": _trimmed_rss_kib() if trim else None,
    }


async def _sample_forever(arbiter: Any, out: Path, interval: float) -> None:
    with out.open("a") as fh:
        while True:
            trim = (out.parent / "trim").exists()
            fh.write(json.dumps(_tables(arbiter, trim)) + "\n")
            fh.flush()
            await asyncio.sleep(interval)


def main(argv: list[str]) -> int:
    """Run the arbiter until SIGTERM; returns the exit status."""
    workdir, interval = Path(argv[0]), float(argv[1])
    arbiter = get_arbiter([], controller=f"ipc://{workdir}/ctl.sock",
                          pubsub_endpoint=f"ipc://{workdir}/pub.sock", warmup_delay=0)
    tasks: list[asyncio.Task[None]] = []  # a strong reference keeps the sampler alive

    def sampler_ended(task: asyncio.Task[None]) -> None:
        # A sampler that fails ends the run: the bench then shows this output.
        if not task.cancelled() and task.exception() is not None:
            task.print_stack()
            arbiter.stop()

    def started(arb: Any) -> None:
        task = asyncio.ensure_future(_sample_forever(arb, workdir / "tables.jsonl", interval))
        task.add_done_callback(sampler_ended)
        tasks.append(task)

    arbiter.start(started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
