"""A process that papa started: circusd knows it by pid only.

It is papa's child, not circusd's: there is no Popen, signals go by pid
(papa never signals) and the exit arrives as a ``closed`` record of a watch
connection, which the watcher turns into a reap.
"""

from __future__ import annotations

import os
import time

import psutil

from circus._base.states import ProcessState
from circus.process import OTHER, RUNNING, UNEXISTING, Process


class PapaProcess(Process):
    """A :class:`~circus.process.Process` hosted by papa under ``papa_name``."""

    __slots__ = ("_papa_pid", "papa_name")

    def hosted(self, papa_name: str, pid: int, started: float) -> None:
        """Record what papa reported: the name, the pid and the wall-clock start."""
        self.papa_name = papa_name
        self._papa_pid = pid
        self.started = started
        # The age counts from papa's start, also for a process adopted later.
        self._started_monotonic = time.monotonic() - max(time.time() - started, 0.0)

    def __repr__(self) -> str:
        return f"<PapaProcess {self.name}#{self.wid} pid {self.pid} {self.state.value}>"

    def spawn(self) -> None:
        """Papa spawns these (``circus._papa.watching``); a fork here would be a bug."""
        raise RuntimeError("a papa process is spawned by papa")

    @property
    def pid(self) -> int:
        """The pid papa reported."""
        return getattr(self, "_papa_pid", 0)

    @property
    def is_alive(self) -> bool:
        """True until the watch connection reported the exit."""
        return self.pid != 0 and self.state is not ProcessState.EXITED

    @property
    def status(self) -> int:
        """Upstream's status constant, checked by pid."""
        if not self.is_alive:
            return UNEXISTING
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return UNEXISTING
        except PermissionError:
            return OTHER
        return RUNNING

    def age(self) -> float:
        """Seconds since papa started it."""
        return time.monotonic() - self._started_monotonic if self.pid else 0.0

    def psutil_process(self) -> psutil.Process:
        """psutil's view, by pid (made once: the pid is papa's until the exit is reported)."""
        if self._psutil is None:
            if not self.pid:
                raise psutil.NoSuchProcess(0, msg="not spawned")
            self._psutil = psutil.Process(self.pid)
        proc: psutil.Process = self._psutil
        return proc
