"""Stopping processes: signal the group, wait, escalate, make sure it is gone.

Every child leads its own process group, so a stop signals the group and
grandchildren get it too. "Stopped" means the whole group is gone: when the
main process exits first, the remaining members get the rest of
``graceful_timeout`` and then SIGKILL. Waiting for the main process is
event-driven (the reaper resolves a future); members that are not our
children can only be checked with ``killpg(pgid, 0)``, which we do on each
orphan reap and otherwise at a coarse interval, and only while a stop runs.

:func:`stop_blocking` is the same stop for a ``Process`` used without a
watcher (``Process.stop``, with no loop and no reaper): the same steps and the
same helpers, waiting with ``Popen.wait`` and a polling deadline instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from typing import Generic, Protocol, TypeVar

from circus._base.states import ProcessState
from circus._watching.hooks import HookOwner, Hooks
from circus._watching.reaper import Reaper

logger = logging.getLogger("circus")


class Stoppable(Protocol):
    """What stopping needs of a process (a :class:`~circus.process.Process`)."""

    @property
    def pid(self) -> int:
        """The process id."""
        ...

    @property
    def name(self) -> str:
        """The name of its watcher."""
        ...

    @property
    def state(self) -> ProcessState:
        """Its state."""
        ...

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        """Its Popen, None before the spawn."""
        ...

    def move_to(self, state: ProcessState) -> None:
        """Change its state (checked)."""
        ...

    def record_exit(self, wait_status: int) -> None:
        """Store the wait status it exited with."""
        ...

    def send_signal_group(self, signum: int) -> bool:
        """Signal its process group; False if the group is gone."""
        ...

    def group_alive(self) -> bool:
        """Whether any member of its process group remains."""
        ...

    def children(self, recursive: bool = False) -> list[int]:
        """The pids of its children (all descendants with ``recursive``)."""
        ...


P = TypeVar("P", bound=Stoppable)
P_contra = TypeVar("P_contra", bound=Stoppable, contravariant=True)


class StopOwner(HookOwner, Protocol[P_contra]):
    """What :class:`ProcessStopper` needs of its watcher (a :class:`~circus.watcher.Watcher`)."""

    @property
    def hooks(self) -> Hooks:
        """The watcher's hooks (``before_signal``, ``after_signal``)."""
        ...

    @property
    def reaper(self) -> Reaper:
        """The reaper of the watcher's processes."""
        ...

    @property
    def stop_children(self) -> bool:
        """Whether direct children get the stop signal too."""
        ...

    @property
    def stop_signal(self) -> int:
        """The signal a stop sends first."""
        ...

    @property
    def graceful_timeout(self) -> float:
        """Seconds between the stop signal and SIGKILL."""
        ...

    def mark_stopping(self, proc: P_contra) -> None:
        """Move ``proc`` to STOPPING (only the watcher changes a process's state)."""
        ...

_GROUP_CHECK_INTERVAL = 0.05
_KILL_WAIT = 10.0  # how long SIGKILL may take before we report a stuck process


class ProcessStopper(Generic[P]):
    """Stops the processes of one watcher."""

    def __init__(self, watcher: StopOwner[P]) -> None:
        self._watcher = watcher
        self._exits: dict[int, asyncio.Future[None]] = {}

    def exited(self, pid: int) -> None:
        """Called by the watcher when the reaper reported ``pid``."""
        future = self._exits.pop(pid, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def signal(self, proc: P, signum: int) -> bool:
        """Send ``signum`` to the process group through the signal hooks."""
        watcher = self._watcher
        hooks = watcher.hooks
        if "before_signal" in hooks:
            allowed = await hooks.run(watcher, "before_signal", pid=proc.pid, signum=signum)
            if not allowed and signum != signal.SIGKILL:
                logger.info("watcher %s: before_signal hook kept %d from pid %d",
                            watcher.name, signum, proc.pid)
                return False
        # With stop_children, children are listed first: once the group signal
        # lands the parent may die and its children are re-parented out of
        # reach. Those still in the group get the group signal; those that left
        # it (setsid) get their own, so none gets it twice.
        children = _direct_children(proc) if watcher.stop_children else []
        if not proc.send_signal_group(signum):
            return False
        watcher.notify_event("kill", {"process_pid": proc.pid})
        for pid, in_group in children:
            if not in_group:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            # Upstream announces every signalled child with its own kill event.
            watcher.notify_event("kill", {"process_pid": pid})
        if "after_signal" in hooks:
            await hooks.run(watcher, "after_signal", pid=proc.pid, signum=signum)
        return True

    async def stop(
        self, proc: P, signum: int | None = None, graceful_timeout: float | None = None
    ) -> None:
        """Stop ``proc`` and its whole group; returns once nothing of it remains."""
        if proc.state is ProcessState.EXITED:
            return
        watcher = self._watcher
        watcher.mark_stopping(proc)
        signum = watcher.stop_signal if signum is None else signum
        timeout = watcher.graceful_timeout if graceful_timeout is None else graceful_timeout
        deadline = time.monotonic() + timeout
        exited = self._exit_future(proc)
        await self.signal(proc, signum)
        if not await _wait(exited, deadline - time.monotonic()):
            logger.info("watcher %s: pid %d still alive after %.1fs; sending SIGKILL",
                        watcher.name, proc.pid, timeout)
            kill_everything(proc)
            self._watcher.notify_event("kill", {"process_pid": proc.pid})
            if not await _wait(exited, _KILL_WAIT):
                logger.error("watcher %s: pid %d survived SIGKILL", watcher.name, proc.pid)
                return
        await self._finish_group(proc, deadline)

    def _exit_future(self, proc: P) -> asyncio.Future[None]:
        future = self._exits.get(proc.pid)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            if proc.state is ProcessState.EXITED:
                future.set_result(None)
            else:
                self._exits[proc.pid] = future
        return future

    async def _finish_group(self, proc: P, deadline: float) -> None:
        """Wait for group members that outlived the leader; SIGKILL them at the deadline."""
        if not proc.group_alive():
            return
        reaper = self._watcher.reaper
        wake = asyncio.Event()
        remove = reaper.on_orphan_reaped(wake.set)
        try:
            killed = False
            kill_deadline = deadline + _KILL_WAIT
            while proc.group_alive():
                now = time.monotonic()
                if not killed and now >= deadline:
                    proc.send_signal_group(signal.SIGKILL)
                    killed = True
                if now >= kill_deadline:
                    logger.error("watcher %s: process group %d survived SIGKILL",
                                 self._watcher.name, proc.pid)
                    return
                wake.clear()
                limit = deadline if not killed else kill_deadline
                await _wait_event(wake, min(_GROUP_CHECK_INTERVAL, max(limit - now, 0.001)))
        finally:
            remove()


def kill_everything(proc: Stoppable) -> None:
    """SIGKILL the process group and every descendant, in the group or not."""
    # Descendants that escaped the group (setsid) are found by walking the tree.
    for pid in proc.children(recursive=True):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    proc.send_signal_group(signal.SIGKILL)


def stop_blocking(proc: Stoppable, signum: int, timeout: float) -> None:
    """:meth:`ProcessStopper.stop` for a process without a watcher, blocking.

    ``signum`` to the group; after ``timeout`` SIGKILL to the group and to the
    descendants that left it; returns once the leader is reaped and no member
    of the group remains (the rest of ``timeout``, then SIGKILL, as above).
    """
    popen = proc.popen
    if popen is None or proc.state is ProcessState.EXITED:
        return
    if proc.state is ProcessState.RUNNING:
        proc.move_to(ProcessState.STOPPING)
    deadline = time.monotonic() + timeout
    proc.send_signal_group(signum)
    try:
        popen.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        kill_everything(proc)
        try:
            popen.wait(timeout=_KILL_WAIT)
        except subprocess.TimeoutExpired:
            logger.error("process %s: pid %d survived SIGKILL", proc.name, proc.pid)
            return
    code = popen.returncode
    # Popen reaped the child and kept only its code: encode it back as the wait
    # status the reaper would have reported (signal in the low byte, code above).
    proc.record_exit(-code if code < 0 else code << 8)
    killed = False
    kill_deadline = deadline + _KILL_WAIT
    while True:
        # Members orphaned to us (we may be a subreaper) stay zombies in the group
        # until reaped; no reaper runs here, so collect them (only this group's).
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-proc.pid, os.WNOHANG)[0]:
                pass
        if not proc.group_alive():
            return
        now = time.monotonic()
        if not killed and now >= deadline:
            proc.send_signal_group(signal.SIGKILL)
            killed = True
        if now >= kill_deadline:
            logger.error("process %s: process group %d survived SIGKILL", proc.name, proc.pid)
            return
        time.sleep(_GROUP_CHECK_INTERVAL)


def _direct_children(proc: Stoppable) -> list[tuple[int, bool]]:
    """Direct children of ``proc``, each with whether it is still in its group."""
    children = []
    for pid in proc.children():
        with contextlib.suppress(ProcessLookupError):
            children.append((pid, os.getpgid(pid) == proc.pid))
    return children


async def _wait(future: asyncio.Future[None], timeout: float) -> bool:
    if future.done():
        return True
    try:
        await asyncio.wait_for(asyncio.shield(future), max(timeout, 0))
    except asyncio.TimeoutError:
        return False
    return True


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
