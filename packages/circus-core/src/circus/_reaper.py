"""The one place where circusd learns that a child died.

Strategy: one pidfd per child, watched by the event loop (Linux 5.3+). A death
wakes the loop at once and costs O(1): no polling and no O(n) scan per
SIGCHLD. Where ``pidfd_open`` is missing we fall back to a SIGCHLD handler
that tries ``waitpid(pid, WNOHANG)`` for each known pid; it never calls
``waitpid(-1)``, so children that code embedding the arbiter spawns itself are
left alone.

When circusd runs as a child subreaper (the CLI turns that on), descendants
orphaned by our children are re-parented to us. Those are reaped too, through
``waitid(..., WNOWAIT)`` peeks on SIGCHLD, so no zombie is ever left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable

logger = logging.getLogger("circus")

ExitCallback = Callable[[int, int], None]
"""Called on the loop with ``(pid, wait_status)`` once the child is reaped."""

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Ask Linux to re-parent orphaned descendants to this process."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class Reaper:
    """Tracks child pids and reports each one's exit exactly once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, reap_orphans: bool = False) -> None:
        self._loop = loop
        self._callbacks: dict[int, ExitCallback] = {}
        self._pidfds: dict[int, int] = {}
        self._use_pidfd = hasattr(os, "pidfd_open")
        self._sigchld_installed = False
        self._reap_orphans = reap_orphans
        self._orphan_listeners: list[Callable[[], None]] = []
        if reap_orphans or not self._use_pidfd:
            self._install_sigchld()

    def __repr__(self) -> str:
        mode = "pidfd" if self._use_pidfd else "sigchld"
        return f"<Reaper {mode} tracking {len(self._callbacks)} pids>"

    @property
    def tracked(self) -> int:
        """Number of children currently tracked."""
        return len(self._callbacks)

    def watch(self, pid: int, callback: ExitCallback) -> None:
        """Start tracking ``pid``; must be called right after the spawn, with no await between."""
        self._callbacks[pid] = callback
        if self._use_pidfd:
            try:
                fd = os.pidfd_open(pid)
            except OSError as exc:
                logger.warning("pidfd_open(%d) failed (%s); using SIGCHLD", pid, exc)
                self._use_pidfd = False
                self._install_sigchld()
                self._reap_known()
                return
            self._pidfds[pid] = fd
            self._loop.add_reader(fd, self._on_pidfd, pid)

    def poll(self, pid: int) -> bool:
        """Reap ``pid`` now if it already exited (normally the pidfd does this)."""
        if pid not in self._callbacks:
            return False
        return self._try_reap(pid)

    def on_orphan_reaped(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Register a listener called after untracked descendants were reaped."""
        self._orphan_listeners.append(listener)
        return lambda: self._orphan_listeners.remove(listener)

    def close(self) -> None:
        """Stop watching everything (children are not touched)."""
        for pid in list(self._pidfds):
            self._drop_pidfd(pid)
        self._callbacks.clear()
        if self._sigchld_installed:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signal.SIGCHLD)
            self._sigchld_installed = False

    def _install_sigchld(self) -> None:
        if self._sigchld_installed:
            return
        try:
            self._loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
            self._sigchld_installed = True
        except (RuntimeError, ValueError) as exc:
            # Not on the main thread: pidfds still work, orphans stay with init.
            logger.debug("cannot install SIGCHLD handler: %s", exc)

    def _drop_pidfd(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)

    def _on_pidfd(self, pid: int) -> None:
        if not self._try_reap(pid):
            return
        if self._reap_orphans:
            self._reap_untracked()

    def _try_reap(self, pid: int) -> bool:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Someone else reaped it (a bug elsewhere); report like asyncio does.
            logger.warning("unknown child process pid %d, will report returncode 255", pid)
            got, status = pid, 255 << 8
        if got == 0:
            return False
        self._drop_pidfd(pid)
        callback = self._callbacks.pop(pid, None)
        if callback is not None:
            try:
                callback(pid, status)
            except Exception:
                logger.exception("exit callback for pid %d failed", pid)
        return True

    def _reap_known(self) -> None:
        for pid in list(self._callbacks):
            if pid not in self._pidfds:
                self._try_reap(pid)

    def _on_sigchld(self) -> None:
        if not self._use_pidfd:
            self._reap_known()
        if self._reap_orphans:
            self._reap_untracked()

    def _reap_untracked(self) -> None:
        reaped = False
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid == 0:
                break
            pid = info.si_pid
            if pid in self._callbacks:
                # A tracked child is first in line; its own pidfd (or the
                # SIGCHLD scan) reaps it and then calls us again.
                if not self._use_pidfd:
                    self._try_reap(pid)
                    continue
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            reaped = True
        if reaped:
            for listener in tuple(self._orphan_listeners):
                listener()
