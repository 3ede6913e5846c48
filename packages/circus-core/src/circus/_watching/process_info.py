"""Process statistics for ``stats`` and ``dstats``, gathered without stalling the loop.

Upstream sampled each process's CPU for a blocking 0.1 s in turn (2 s for 300
processes, with the daemon frozen). Here the CPU of *every* process is
sampled over one shared async sleep, from two ``cpu_times`` readings, and the
rest is read in small chunks with a yield to the loop between chunks, so
``status`` and ``list`` stay fast during a ``stats`` of thousands of processes.
Children come from one scan of ``/proc`` (a parent → children map) instead of
a full scan per process (Linux only, as the rest of the daemon).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypedDict, TypeVar

import psutil

from circus._base.protocol import cpu_clock, human_bytes

CPU_INTERVAL = 0.1
"""Seconds over which CPU usage is measured."""

# Work done between two yields to the loop, each about 1 ms on a slow core, so
# a `status` arriving meanwhile waits about that long at most.
_CHUNK = 5  # full process reads (psutil oneshot: stat, statm, status, cmdline)
_CPU_CHUNK = 20  # cpu_times reads
_PROC_SCAN_CHUNK = 60  # /proc/PID/stat reads while mapping parents to children
NA = "N/A"
GONE = "No such process (stopped?)"

_T = TypeVar("_T")
_D = TypeVar("_D")


class _InfoFields(TypedDict):
    pid: int
    cmdline: str  # the program's base name
    username: str
    nice: int | str  # NA when unreadable
    mem_info1: str  # RSS, human (``12M``), or NA
    mem_info2: str  # VMS, human, or NA
    cpu: float  # percent over the sampling interval
    mem: float | str  # percent of the host's memory, or NA
    ctime: str  # CPU time as ``M:SS.ss``, or NA
    create_time: float | str  # epoch seconds, or NA
    age: float | str  # seconds, or NA
    children: list[Info]  # the direct children (whose own ``children`` are empty)


class Info(_InfoFields, total=False):
    """Upstream's info mapping of one process, as ``stats`` and ``dstats`` reply it."""

    started: float  # the spawn time, for circusd's own processes
    wid: int  # the worker id, for circusd's own processes


class Tracked(Protocol):
    """A process circusd tracks, whose psutil object can be reused across calls."""

    def psutil_process(self) -> psutil.Process:
        """The cached psutil object; raises psutil.NoSuchProcess if it is gone."""


class _Sampler:
    """Reads processes in chunks; one instance per ``stats`` call.

    ``tracked`` supplies the psutil objects of circusd's own processes, kept
    between calls; children and anything else get one made for this call.
    """

    def __init__(self, tracked: Mapping[int, Tracked] | None = None) -> None:
        self._tracked = tracked or {}
        self._users: dict[int, str] = {}
        self.total_mem = psutil.virtual_memory().total or 1
        self._cpu_before: dict[int, float] = {}
        self._cpu_pct: dict[int, float] = {}
        self._children: dict[int, list[int]] = {}
        self._procs: dict[int, psutil.Process] = {}

    def username(self, proc: psutil.Process) -> str:
        """The name of the user ``proc`` runs as (cached per uid for this call)."""
        # The owner of /proc/PID (the effective uid; the real one differs only for
        # setuid programs) costs a stat, not a parse of /proc/PID/status.
        try:
            uid = os.stat(f"/proc/{proc.pid}").st_uid
        except FileNotFoundError:
            raise psutil.NoSuchProcess(proc.pid) from None
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            self._users[uid] = name
        return name

    async def scan_children(self, roots: set[int]) -> None:
        """Find the direct children of ``roots`` (for :meth:`children_of`), off the fast path."""
        # One pass of raw reads of /proc/PID/stat (psutil.process_iter costs
        # ~10x more per entry), yielding to the loop every few dozen entries.
        parents: dict[int, list[int]] = {}
        for count, entry in enumerate(os.listdir("/proc")):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
                ppid = int(stat[stat.rindex(b")") + 2 :].split(maxsplit=2)[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in roots:
                parents.setdefault(ppid, []).append(int(entry))
            if count % _PROC_SCAN_CHUNK == _PROC_SCAN_CHUNK - 1:
                await asyncio.sleep(0)
        self._children = parents

    def children_of(self, pid: int) -> list[int]:
        """The children of ``pid`` found by :meth:`scan_children`."""
        return self._children.get(pid, [])

    def _process(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None:
            owner = self._tracked.get(pid)
            proc = owner.psutil_process() if owner is not None else psutil.Process(pid)
            self._procs[pid] = proc
        return proc

    def _cpu_total(self, pid: int) -> float | None:
        try:
            times = self._process(pid).cpu_times()
        except psutil.Error:
            return None
        return times.user + times.system

    async def sample_cpu(self, pids: list[int], interval: float) -> None:
        """Measure the CPU % of ``pids`` over ``interval`` seconds (one async sleep)."""
        started = time.monotonic()
        for index, pid in enumerate(pids):
            total = self._cpu_total(pid)
            if total is not None:
                self._cpu_before[pid] = total
            if index % _CPU_CHUNK == _CPU_CHUNK - 1:
                await asyncio.sleep(0)
        await asyncio.sleep(interval)
        elapsed = max(time.monotonic() - started, 1e-6)
        for index, pid in enumerate(pids):
            before = self._cpu_before.get(pid)
            after = self._cpu_total(pid)
            if before is not None and after is not None:
                self._cpu_pct[pid] = round(max(after - before, 0.0) / elapsed * 100, 1)
            if index % _CPU_CHUNK == _CPU_CHUNK - 1:
                await asyncio.sleep(0)

    def info(self, pid: int, with_children: bool = True) -> Info | str:
        """The upstream info mapping of ``pid``; :data:`GONE` if it vanished."""
        try:
            proc = self._process(pid)
            with proc.oneshot():
                info = _read(proc, self)
        except psutil.NoSuchProcess:
            return GONE
        info["cpu"] = self._cpu_pct.get(pid, 0.0)
        if with_children:
            kids = [self.info(kid, with_children=False) for kid in self._children.get(pid, ())]
            info["children"] = [kid for kid in kids if isinstance(kid, dict)]
        return info


def _field(read: Callable[[], _T], default: _D) -> _T | _D:
    try:
        return read()
    except psutil.AccessDenied:
        return default


def _read(proc: psutil.Process, sampler: _Sampler) -> Info:
    mem = _field(proc.memory_info, None)
    times = _field(proc.cpu_times, None)
    cmdline = _field(proc.cmdline, None)
    create_time = _field(proc.create_time, NA)
    return {
        "pid": proc.pid,
        "cmdline": os.path.basename(cmdline[0]) if cmdline else _field(proc.name, NA),
        "username": _field(lambda: sampler.username(proc), NA),
        "nice": _field(proc.nice, NA),
        "mem_info1": human_bytes(mem.rss) if mem else NA,
        "mem_info2": human_bytes(mem.vms) if mem else NA,
        "cpu": 0.0,
        "mem": round(mem.rss / sampler.total_mem * 100, 1) if mem else NA,
        "ctime": cpu_clock(times.user + times.system) if times else NA,
        "create_time": create_time,
        "age": round(time.time() - create_time, 2) if isinstance(create_time, float) else NA,
        "children": [],
    }


async def gather_infos(
    pids: Iterable[int], interval: float = CPU_INTERVAL,
    tracked: Mapping[int, Tracked] | None = None,
) -> dict[int, Info | str]:
    """Info of every pid (with its children), yielding to the loop as it goes.

    ``tracked`` maps pids to circusd's processes, whose psutil objects are reused.
    """
    wanted = list(dict.fromkeys(pids))
    sampler = _Sampler(tracked)
    if not wanted:
        return {}
    await sampler.scan_children(set(wanted))
    everyone = wanted + [kid for pid in wanted for kid in sampler.children_of(pid)]
    await sampler.sample_cpu(everyone, interval)
    result: dict[int, Info | str] = {}
    for index, pid in enumerate(wanted):
        result[pid] = sampler.info(pid)
        if index % _CHUNK == _CHUNK - 1:
            await asyncio.sleep(0)
    return result


async def daemon_info(interval: float = 0.01) -> Info:
    """Info of circusd itself (``dstats``): children always ``[]``, as upstream."""
    sampler = _Sampler()
    pid = os.getpid()
    await sampler.sample_cpu([pid], interval)
    info = sampler.info(pid, with_children=False)
    if isinstance(info, str):  # cannot happen for ourselves, but keep the shape
        raise RuntimeError(info)
    return info
