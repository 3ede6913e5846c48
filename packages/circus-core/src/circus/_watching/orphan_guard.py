"""The orphan guard: workers do not outlive a circusd killed with SIGKILL.

Why a guard process and process groups, not ``PR_SET_PDEATHSIG``:

* PDEATHSIG needs code in the child between fork and exec. A ``preexec_fn``
  turns CPython's vfork fast path into a full fork running Python in the
  child: measured 8x slower per spawn here (2.9 ms against 0.35 ms, with a
  50 MB parent), and the spawn rate is one of our headline figures.
* PDEATHSIG hits only direct children; a worker's own children would
  linger. Each worker already leads its own process group (``setsid`` in the
  spawner), so killing the group takes its descendants too.
* PDEATHSIG is cleared when the child execs a set-user-ID binary and on
  credential changes, and fires when the forking *thread* exits, not the
  process.

So circusd starts one small guard process (its own session, stdlib only) and
tells it, through a pipe, each worker group it starts (``+pgid``) and each it
reaped (``-pgid``). The guard does nothing else until the pipe reaches EOF,
which happens only when circusd is gone (every copy of the write end is
close-on-exec, so no child holds one) or closed it on its way out. Then it
sends SIGTERM to each group still listed, and SIGKILL after
:data:`GRACE_SECONDS` to the groups still there. The cost on the spawn path is
a few bytes appended to a buffer, written once per loop iteration.

The guard is started before circusd becomes a child subreaper, through a
shell that puts it in the background and exits: it is re-parented to init (or
to the nearest subreaper above circusd), so circusd's own children are still
exactly its workers and helpers, and the guard is not killed with circusd's
process group. circusd watches it with a pidfd; if it dies, circusd starts a
new one (a child of circusd then, reaped as an orphan) and lists every live
group again. papa-hosted processes (``use_papa``) are never listed: they
survive circusd by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import subprocess
import sys
import time

from circus._watching import spawn as _spawn

logger = logging.getLogger("circus")

GRACE_SECONDS = 1.0
"""How long the guard waits between SIGTERM and SIGKILL once circusd is gone."""

# Run with ``python -I -S``: no site, no environment, nothing imported but the
# stdlib, so it starts in ~15 ms and cannot be broken by the workers' PYTHONPATH.
_GUARD_SCRIPT = r"""
import os, signal, sys, time
with open("/proc/self/comm", "w") as comm:
    comm.write(sys.argv[1])  # kept by a zombie too, unlike the command line
for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(sig, signal.SIG_IGN)
fd, grace = int(sys.argv[2]), float(sys.argv[3])
groups = set()
pending = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except InterruptedError:
        continue
    if not chunk:
        break
    pending += chunk
    *lines, pending = pending.split(b"\n")
    for line in lines:
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))

def send(targets, sig):
    alive = set()
    for pgid in targets:
        try:
            os.killpg(pgid, sig)
        except OSError:
            continue
        alive.add(pgid)
    return alive

alive = send(groups, signal.SIGTERM)
deadline = time.monotonic() + grace
while alive and time.monotonic() < deadline:
    time.sleep(0.02)
    alive = send(alive, 0)
send(alive, signal.SIGKILL)
"""


#: The guard's process name (``/proc/<pid>/comm``), as ps and pgrep show it; it is
#: also the first argument of its command line.
GUARD_NAME = "circus-guard"

# ``$0`` python, ``$1`` the script, ``$2`` the pipe's fd, ``$3`` the grace. The
# shell prints the guard's pid and exits.
_LAUNCH = (f'"$0" -I -S -c "$1" {GUARD_NAME} "$2" "$3" </dev/null >/dev/null 2>&1 & '
           'echo $!')


class OrphanGuard:
    """circusd's side of the guard process: lists worker groups, restarts the guard.

    Create it before becoming a child subreaper (see the module docstring).

    Args:
        loop: the loop the writes are flushed on and the guard is watched from.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._groups: set[int] = set()
        self._pending = bytearray()
        self._flush_scheduled = False
        self._writing = False
        self._fd: int | None = None
        self._pidfd: int | None = None
        self._pid = 0
        self._closed = False
        self.restarts = 0  # guards started after the first (one died)
        try:
            self._start()
        except (OSError, ValueError) as exc:
            logger.error("cannot start the orphan guard: %s; workers will outlive a "
                         "killed circusd", exc)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self._pid}" if self._pid else "not running"
        return f"<OrphanGuard {state} guarding {len(self._groups)} groups>"

    @property
    def pid(self) -> int:
        """The guard process's pid (0 when it is not running)."""
        return self._pid

    @property
    def groups(self) -> frozenset[int]:
        """The process groups the guard would kill now."""
        return frozenset(self._groups)

    def add(self, pgid: int) -> None:
        """List the group of a worker just spawned (no await between spawn and this)."""
        if self._closed:
            return
        self._groups.add(pgid)
        self._queue(b"+%d\n" % pgid)

    def discard(self, pgid: int) -> None:
        """Unlist a group: its leader was reaped, or it now runs unmanaged."""
        if pgid in self._groups:
            self._groups.remove(pgid)
            self._queue(b"-%d\n" % pgid)

    def close(self) -> None:
        """Close the pipe: the guard kills what is still listed, then exits; wait for it."""
        if self._closed:
            return
        self._closed = True
        if self._fd is not None:
            self._flush()
        pid = self._pid
        self._stop_watching()
        if not pid:
            return
        # It exits at once unless groups were still listed (then GRACE_SECONDS).
        # If it was re-parented to this process (a subreaper), it is reaped here.
        deadline = time.monotonic() + GRACE_SECONDS + 2
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid if not _running(pid) else 0
            if done:
                return
            time.sleep(0.005)
        logger.warning("orphan guard pid %d did not exit after its pipe closed", pid)

    # -- the guard process ---------------------------------------------------

    def _start(self) -> None:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            spec = _spawn.SpawnSpec(
                argv=["/bin/sh", "-c", _LAUNCH, sys.executable, _GUARD_SCRIPT, str(read_fd),
                      str(GRACE_SECONDS)],
                executable="/bin/sh",
                env={},
                pass_fds=(read_fd,),
                pipe_stdout=True,
            )
            spawned = _spawn.spawn(spec)
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        assert spawned.stdout_fd is not None
        try:
            with open(spawned.stdout_fd, "rb") as out:
                printed = out.read()
            # The shell exits right after printing; no reaper callback can run
            # before this (we are on the loop), so waiting here races nothing.
            spawned.popen.wait(timeout=10)
            pid = int(printed.strip())
            pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            os.close(write_fd)
            raise OSError(f"the guard did not start ({exc})") from exc
        os.set_blocking(write_fd, False)
        self._fd, self._pid, self._pidfd = write_fd, pid, pidfd
        if pidfd is not None:
            self._loop.add_reader(pidfd, self._on_exit)
        logger.debug("orphan guard started (pid %d)", pid)

    def _on_exit(self) -> None:
        if self._closed:
            return
        pid = self._pid
        self._stop_watching()
        self._pending.clear()
        logger.warning("orphan guard pid %d died; starting a new one", pid)
        self.restarts += 1
        try:
            self._start()
        except OSError as exc:
            logger.error("cannot start the orphan guard: %s; workers will outlive a "
                         "killed circusd", exc)
            return
        self._queue(b"".join(b"+%d\n" % pgid for pgid in sorted(self._groups)))

    def _stop_watching(self) -> None:
        fd, self._fd = self._fd, None
        pidfd, self._pidfd = self._pidfd, None
        self._pid = 0
        if pidfd is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(pidfd)
            os.close(pidfd)
        if fd is None:
            return
        if self._writing:
            self._writing = False
            with contextlib.suppress(Exception):
                self._loop.remove_writer(fd)
        os.close(fd)

    # -- the pipe --------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        if self._fd is None:
            return
        self._pending += data
        if not self._flush_scheduled and not self._writing:
            # One write per loop iteration, however many workers a batch spawned.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        fd = self._fd
        if fd is None or not self._pending:
            return
        try:
            written = os.write(fd, self._pending)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                logger.warning("orphan guard pipe: %s", exc)
            if self._pidfd is None:
                self._on_exit()  # no pidfd to tell us: the broken pipe does
            return
        del self._pending[:written]
        if self._pending and not self._writing:
            self._writing = True
            self._loop.add_writer(fd, self._flush)
        elif not self._pending and self._writing:
            self._writing = False
            self._loop.remove_writer(fd)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False
