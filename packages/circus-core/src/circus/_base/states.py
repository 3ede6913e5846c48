"""The lifecycle enums of processes, watchers and the arbiter, and the legal process moves.

A leaf module, so that helpers can name a state without importing the class
that owns it. ``circus.process``, ``circus.watcher`` and ``circus.arbiter``
re-export their enum under its documented path.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ProcessState(enum.Enum):
    """Where a process is in its life."""

    RUNNING = "running"  # spawned and not yet reaped
    STOPPING = "stopping"  # circus sent the stop signal; a death now is expected
    EXITED = "exited"  # reaped; ``returncode`` is set


PROCESS_MOVES: Mapping[ProcessState, frozenset[ProcessState]] = {
    ProcessState.RUNNING: frozenset({ProcessState.STOPPING, ProcessState.EXITED}),
    ProcessState.STOPPING: frozenset({ProcessState.EXITED}),
    ProcessState.EXITED: frozenset(),
}
"""State → the states a process may move to from it (exited is final)."""


class IllegalTransition(RuntimeError):
    """A state change the lifecycle does not allow (a bug in the caller, never user input)."""


class WatcherState(enum.Enum):
    """The desired-and-reached state of a watcher (the strings ``status`` returns)."""

    STOPPED = "stopped"  # no processes, none wanted
    STARTING = "starting"  # start in progress
    ACTIVE = "active"  # processes are kept alive
    STOPPING = "stopping"  # stop in progress


class ArbiterState(enum.Enum):
    """Lifecycle of the arbiter."""

    STOPPED = "stopped"  # not started, or fully stopped
    STARTING = "starting"  # watchers being started in priority order
    RUNNING = "running"  # all autostart watchers started
    STOPPING = "stopping"  # watchers being stopped
