"""Per-process samples: the ``dstats`` reply's keys, cheap enough for 1000 pids a second.

The keys are the ones circusd's ``stats`` and ``dstats`` commands report per
process (listed under "Control and event channels" in the circus-core README).

On Linux one ``pread`` of ``/proc/<pid>/stat`` gives everything that changes
(utime, stime, nice, vsize, rss, starttime); the kernel constants (clock
ticks, page size, boot time, total memory) are read once, and what does not
change for a pid (its command name and user) is cached until the pid is
reused (its starttime changes). psutil costs ~10x more per process, so it
is only the fallback where ``/proc`` is absent.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pwd
import resource
from typing import TYPE_CHECKING, NamedTuple, Protocol

from circus.client.protocol import cpu_clock, human_bytes

if TYPE_CHECKING:
    import psutil
    from circus.client import ProcessInfo

NA = "N/A"
"""What a field holds when it cannot be read (upstream's marker)."""


class ProcessSample(NamedTuple):
    """One process at one tick: its wire payload plus the numbers aggregates need.

    ``body`` is the JSON object of the ``dstats`` keys *without* its closing
    brace, so the publisher appends ``subtopic`` and ``name`` without decoding.
    """

    body: str
    cpu: float | str
    mem: float | str
    age: float | str
    cpu_seconds: float | None
    rss_bytes: int | None
    create_time: float | None


class Sampler(Protocol):
    """Reads one process; ``None`` means the process is gone."""

    def sample(self, pid: int, wall: float, mono: float) -> ProcessSample | None: ...

    def forget(self, pid: int) -> None: ...

    def close(self) -> None: ...


def from_info(info: ProcessInfo, cpu_seconds: float | None, rss_bytes: int | None,
              create_time: float | None) -> ProcessSample:
    """A sample from a dstats-shaped ``info`` dict (the slow, general path)."""
    body = json.dumps(info, separators=(",", ":"))[:-1]
    return ProcessSample(body, info["cpu"], info["mem"], info["age"], cpu_seconds, rss_bytes,
                         create_time)


def unreadable(pid: int) -> ProcessSample:
    """The sample of a process that exists but may not be read (another user's)."""
    info: ProcessInfo = {
        "pid": pid, "cmdline": NA, "username": NA, "nice": NA, "mem_info1": NA,
        "mem_info2": NA, "cpu": NA, "mem": NA, "ctime": NA, "create_time": NA, "age": NA,
        "children": [],
    }
    return from_info(info, None, None, None)


class _Known:
    """What a pid's previous sample left behind: its open stat fd and cached strings."""

    __slots__ = ("create_time", "created", "fd", "head", "last_mono", "last_ticks", "mem", "rss",
                 "rss_text", "starttime", "ticks_text", "vsize", "vsize_text")

    def __init__(self, fd: int, starttime: int, create_time: float, head: str) -> None:
        self.fd = fd  # -1: out of fds, reopen each tick
        self.starttime = starttime
        self.create_time = create_time
        self.created = round(create_time, 2)
        self.mem = 0.0
        self.head = head  # '{"pid":N,"cmdline":"x","username":"y",' as JSON text
        self.last_ticks = -1
        self.last_mono = 0.0
        self.rss = self.vsize = self.last_ticks
        self.rss_text = self.vsize_text = ""
        self.ticks_text = "0:00.00"


def _read_small(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _meminfo_total() -> int:
    with open("/proc/meminfo", "rb") as meminfo:
        for line in meminfo:
            if line.startswith(b"MemTotal:"):
                return int(line.split()[1]) * 1024
    raise OSError("no MemTotal in /proc/meminfo")


def _boot_time() -> float:
    with open("/proc/stat", "rb") as stat:
        for line in stat:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _raise_fd_limit() -> None:
    # One open /proc/<pid>/stat per tracked process: 1000 processes need more
    # than the usual soft limit of 1024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1 << 20), hard))


class ProcfsSampler:
    """Samples from ``/proc`` (Linux): one ``pread`` per pid per tick.

    Each tracked pid's ``/proc/<pid>/stat`` stays open: re-reading it costs
    one syscall instead of three, and the fd refers to that very process, so
    it fails with ESRCH once the process is reaped even if the pid is reused.
    """

    def __init__(self) -> None:
        self._hz = float(os.sysconf("SC_CLK_TCK"))
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._boot = _boot_time()
        self._mem_total = float(_meminfo_total())
        self._known: dict[int, _Known] = {}
        self._users: dict[int, str] = {}
        _raise_fd_limit()

    def forget(self, pid: int) -> None:
        """Drop the cache (and close the fd) of a pid that is no longer tracked."""
        known = self._known.pop(pid, None)
        if known is not None and known.fd >= 0:
            os.close(known.fd)

    def close(self) -> None:
        """Close every cached fd."""
        for pid in list(self._known):
            self.forget(pid)

    def _username(self, uid: int) -> str:
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:  # a uid with no passwd entry (containers)
                name = str(uid)
            self._users[uid] = name
        return name

    def _learn(self, pid: int, fd: int, starttime: int, raw: bytes) -> _Known:
        try:
            argv0 = _read_small(f"/proc/{pid}/cmdline").split(b"\0", 1)[0]
            username = self._username(os.stat(f"/proc/{pid}").st_uid)
        except OSError:
            argv0, username = b"", NA
        if not argv0:  # zombies and kernel threads have no argv: use the comm field
            argv0 = raw[raw.index(b"(") + 1 : raw.rindex(b")")]
        cmdline = os.path.basename(argv0.decode("utf-8", "replace"))
        head = (f'{{"pid":{pid},"cmdline":{json.dumps(cmdline)},'
                f'"username":{json.dumps(username)},')
        known = _Known(fd, starttime, self._boot + starttime / self._hz, head)
        self._known[pid] = known
        return known

    def _read(self, pid: int, known: _Known | None) -> tuple[bytes, int]:
        """The stat line and the fd it came from (-1: none kept); raises OSError."""
        if known is not None and known.fd >= 0:
            return os.pread(known.fd, 4096, 0), known.fd
        try:
            fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        except OSError as exc:
            if exc.errno != errno.EMFILE:
                raise
            return _read_small(f"/proc/{pid}/stat"), -1
        try:
            return os.read(fd, 4096), fd
        except OSError:
            os.close(fd)
            raise

    def sample(self, pid: int, wall: float, mono: float) -> ProcessSample | None:
        """Read ``pid`` now; ``wall`` is ``time.time()``, ``mono`` ``time.monotonic()``."""
        known = self._known.get(pid)
        try:
            raw, fd = self._read(pid, known)
        except (FileNotFoundError, ProcessLookupError):
            self.forget(pid)
            return None
        except PermissionError:
            return unreadable(pid)
        # Fields 3..24 of stat(5) are all we read: split no further.
        fields = raw[raw.rindex(b")") + 2 :].split(None, 22)
        if fields[0] in (b"Z", b"X"):  # dead: circusd is about to reap it
            if known is None and fd >= 0:
                os.close(fd)
            self.forget(pid)
            return None
        starttime = int(fields[19])
        if known is None or known.starttime != starttime:
            if known is not None and known.fd != fd:
                self.forget(pid)
            known = self._learn(pid, fd, starttime, raw)
        ticks = int(fields[11]) + int(fields[12])
        if ticks == known.last_ticks:  # idle since the last tick: most processes
            cpu = 0.0
        else:
            known.ticks_text = cpu_clock(ticks / self._hz)
            if known.last_ticks < 0 or mono <= known.last_mono:
                cpu = 0.0
            else:
                cpu = round((ticks - known.last_ticks) / self._hz
                            / (mono - known.last_mono) * 100, 1)
        known.last_ticks = ticks
        known.last_mono = mono
        rss_pages, vsize = int(fields[21]), int(fields[20])
        if rss_pages != known.rss:
            known.rss = rss_pages
            known.rss_text = human_bytes(rss_pages * self._page)
            known.mem = round(rss_pages * self._page * 100 / self._mem_total, 1)
        if vsize != known.vsize:
            known.vsize = vsize
            known.vsize_text = human_bytes(vsize)
        age = round(wall - known.create_time, 2)
        # Floats print as json.dumps prints them (repr), so this is valid JSON.
        body = (f'{known.head}"nice":{int(fields[16])},"mem_info1":"{known.rss_text}",'
                f'"mem_info2":"{known.vsize_text}","cpu":{cpu!r},"mem":{known.mem!r},'
                f'"ctime":"{known.ticks_text}","create_time":{known.created!r},"age":{age!r},'
                f'"children":[]')
        return ProcessSample(body, cpu, known.mem, age, ticks / self._hz,
                             rss_pages * self._page, known.create_time)


class PsutilSampler:
    """Samples through psutil, for systems without ``/proc``."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._procs: dict[int, psutil.Process] = {}
        self._last: dict[int, tuple[float, float]] = {}

    def forget(self, pid: int) -> None:
        """Drop the cached Process of a pid that is no longer tracked."""
        self._procs.pop(pid, None)
        self._last.pop(pid, None)

    def close(self) -> None:
        """Drop every cached Process."""
        self._procs.clear()
        self._last.clear()

    def sample(self, pid: int, wall: float, mono: float) -> ProcessSample | None:
        """Read ``pid`` now; ``wall`` is ``time.time()``, ``mono`` ``time.monotonic()``."""
        psutil = self._psutil
        try:
            proc = self._procs.get(pid)
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
            with proc.oneshot():
                times = proc.cpu_times()
                memory = proc.memory_info()
                create_time = proc.create_time()
                argv = proc.cmdline()
                info: ProcessInfo = {
                    "pid": pid,
                    "cmdline": os.path.basename(argv[0]) if argv else proc.name(),
                    "username": proc.username(),
                    "nice": proc.nice(),
                    "mem_info1": human_bytes(memory.rss),
                    "mem_info2": human_bytes(memory.vms),
                    "cpu": 0.0,
                    "mem": round(proc.memory_percent(), 1),
                }
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self.forget(pid)
            return None
        except psutil.AccessDenied:
            return unreadable(pid)
        cpu_seconds = times.user + times.system
        last = self._last.get(pid)
        if last is not None and mono > last[1]:
            info["cpu"] = round((cpu_seconds - last[0]) / (mono - last[1]) * 100, 1)
        self._last[pid] = (cpu_seconds, mono)
        info["ctime"] = cpu_clock(cpu_seconds)
        info["create_time"] = round(create_time, 2)
        info["age"] = round(wall - create_time, 2)
        info["children"] = []
        return from_info(info, cpu_seconds, memory.rss, create_time)


def make_sampler() -> Sampler:
    """The ``/proc`` sampler where the kernel provides it, psutil elsewhere."""
    if os.path.exists("/proc/self/stat"):
        try:
            return ProcfsSampler()
        except (OSError, ValueError):
            pass
    return PsutilSampler()
