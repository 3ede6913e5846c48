"""Watching processes from the outside, through /proc.

Every daemon is observed the same way: we never talk to it, we only look at
its children in /proc. psutil is used where it is convenient (CPU times, RSS),
but the hot polling loops read /proc directly: the bench shares the machine's
two cores with the daemon it measures, so each poll must cost next to nothing.

The bench process makes itself a *child subreaper*: when a daemon exits (or is
killed) before its children, they are re-parented to us instead of init, so
the cleanup can always find and reap them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import time
from collections.abc import Iterable

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Have orphaned descendants re-parented to this process (Linux 3.4+)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def raise_nofile(wanted: int = 65536) -> int:
    """Raise our RLIMIT_NOFILE (children inherit it); returns the new soft limit.

    As root the hard limit can be raised too, up to /proc/sys/fs/nr_open.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard < wanted and os.geteuid() == 0:
        with contextlib.suppress(OSError, ValueError), open("/proc/sys/fs/nr_open") as fh:
            hard = max(hard, min(wanted, int(fh.read())))
    target = min(wanted, hard)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (all of its threads), or [] if it is gone.

    ``/proc/PID/task/TID/children`` is one small read per thread, far cheaper
    than scanning every /proc entry for its parent pid.
    """
    result: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return result
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                result.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return result


def comm(pid: int) -> str | None:
    """The process's command name (changes at exec), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            return fh.read().strip().decode(errors="replace")
    except OSError:
        return None


def pid_max() -> int:
    """The highest pid plus one: where pid allocation wraps around."""
    with open("/proc/sys/kernel/pid_max", "rb") as fh:
        return int(fh.read())


def last_pid() -> int:
    """The pid the kernel handed out most recently (the last field of /proc/loadavg)."""
    with open("/proc/loadavg", "rb") as fh:
        return int(fh.read().split()[-1])


def parent_and_comm(pid: int) -> tuple[int, str] | None:
    """(parent pid, command name) of ``pid``, or None if it is gone (or not there yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    close = raw.rfind(b")")
    try:
        return int(raw[close + 2:].split(None, 2)[1]), raw[raw.find(b"(") + 1:close].decode(
            errors="replace")
    except (IndexError, ValueError):
        return None


class NewPids:
    """The pids handed out since the previous call, in O(new pids) per call.

    The cheap way to see a daemon's new children when it has thousands: the
    children file of a process with N children costs O(N) to read (O(N^2 / 700)
    list steps in the kernel, which restarts its walk of the children list at
    every 4 KiB page), and it holds ``tasklist_lock`` while it walks, which
    stalls the very forks being measured: 11 ms of CPU per read at 10,000
    children against 0.3 ms at 1,000. /proc/loadavg names the last pid
    allocated; every pid between the previous and the current one is new.
    """

    # A pid is counted by the kernel a moment before its /proc entry appears:
    # one found missing is offered again by this many later calls. Most
    # missing pids are short-lived processes of other work on the machine,
    # so the number stays small; a reader that misses a pid all the same
    # must catch up some other way (StartWatch reads the children list now
    # and then).
    RETRIES = 2
    # Beyond this many pids at once the caller had better read the children
    # list instead.
    MAX_SPAN = 20000

    def __init__(self) -> None:
        self._last = last_pid()
        self._max = pid_max()
        self._missing: dict[int, int] = {}  # pid -> retries left

    def take(self) -> list[int] | None:
        """Pids handed out since the last call, then recent ones that had no entry yet.

        None when too many pids went by to look at each one (the caller reads
        the children list instead).
        """
        current = last_pid()
        previous, self._last = self._last, current
        if current >= previous:
            fresh = range(previous + 1, current + 1)
            pids = list(fresh) if len(fresh) <= self.MAX_SPAN else None
        else:  # wrapped around pid_max
            count = (self._max - previous - 1) + current
            pids = ([*range(previous + 1, self._max), *range(1, current + 1)]
                    if count <= self.MAX_SPAN else None)
        retry = list(self._missing)
        self._missing = {pid: left - 1 for pid, left in self._missing.items() if left > 1}
        if pids is None:
            return None
        return [*pids, *retry]

    def missing(self, pid: int) -> None:
        """``pid`` had no /proc entry: offer it again (a limited number of times)."""
        self._missing.setdefault(pid, self.RETRIES)

    def found(self, pid: int) -> None:
        """``pid`` has a /proc entry: no need to offer it again."""
        self._missing.pop(pid, None)


def stat_fields(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of ``pid``, or None if it is gone.

    The start time tells a reused pid from the process we first saw.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    rest = raw[raw.rfind(b")") + 2:].split()
    try:
        return rest[0].decode(), int(rest[19])
    except (IndexError, ValueError):
        return None


class Tracked:
    """A set of processes, each identified by (pid, start time) so pid reuse is harmless."""

    def __init__(self) -> None:
        self.procs: dict[int, int] = {}

    def add(self, pid: int) -> bool:
        """Remember ``pid`` with its start time; False if it is already gone."""
        fields = stat_fields(pid)
        if fields is None:
            return False
        self.procs[pid] = fields[1]
        return True

    def __len__(self) -> int:
        return len(self.procs)

    def exists(self, pid: int) -> bool:
        """Whether ``pid`` is still the process we saw, zombie or not (not yet reaped)."""
        fields = stat_fields(pid)
        return fields is not None and fields[1] == self.procs.get(pid)

    def alive(self) -> list[int]:
        """Pids still alive: not gone, not a zombie, not replaced by a new process."""
        result = []
        for pid, start in self.procs.items():
            fields = stat_fields(pid)
            if fields is not None and fields[1] == start and fields[0] not in ("Z", "X"):
                result.append(pid)
        return result


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid``, breadth first."""
    found: list[int] = []
    queue = [pid]
    while queue:
        kids = children_of(queue.pop())
        found.extend(kids)
        queue.extend(kids)
    return found


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL each pid (and its process group when it leads one)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def reap_orphans(keep: Iterable[int] = ()) -> int:
    """Reap zombies re-parented to us (we are a subreaper); returns how many.

    Pids in ``keep`` belong to Popen objects that reap them themselves.
    """
    kept = set(keep)
    reaped = 0
    for pid in children_of(os.getpid()):
        if pid in kept:
            continue
        with contextlib.suppress(ChildProcessError):
            got, _ = os.waitpid(pid, os.WNOHANG)
            reaped += bool(got)
    return reaped


def cleanup_descendants(keep: Iterable[int] = (), timeout: float = 10.0) -> None:
    """Kill every descendant of the bench (except ``keep``) and reap what we can."""
    kept = set(keep)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        victims = [p for p in descendants(os.getpid()) if p not in kept]
        victims = [p for p in victims if (stat_fields(p) or ("X", 0))[0] not in ("Z", "X")]
        reap_orphans(kept)
        if not victims:
            return
        kill_all(victims)
        time.sleep(0.02)


def kill_and_reap(popen: subprocess.Popen[bytes]) -> None:
    """SIGKILL a session leader, its group and every descendant; reap them all."""
    with contextlib.suppress(OSError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        popen.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=10)
    # Its children, re-parented to the bench (a subreaper), go too.
    cleanup_descendants()
