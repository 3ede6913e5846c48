"""``depends_on``: a watcher starts only once the watchers it names are ready.

Before a watcher with ``depends_on`` starts (at circusd's start, ``start``,
``restart``, ``reloadconfig``, ``add`` with start), each dependency that is
stopped is started first (as systemd's ``Requires=`` pulls units in), and
then waited for until all its processes are ready, at most its ready window
(``check_timeout x check_retries``). A dependency still not ready by then
keeps the dependent stopped, with a :class:`DependencyError` naming it. An
``on_demand`` dependency counts as ready: its processes start when a client
connects. Cycles and unknown names are refused when the config loads (and by
``add``), so following dependencies always ends.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from circus.errors import CommandError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

logger = logging.getLogger("circus")


class DependencyError(CommandError):
    """A watcher was not started: a watcher it depends on is missing or not ready."""


async def ready_dependencies(watcher: Watcher) -> None:
    """Start the stopped dependencies of ``watcher`` and wait until each one is ready.

    Raises:
        DependencyError: a dependency does not exist, or is not ready within
            its ready window; the message names it and says why.
    """
    arbiter = watcher.arbiter
    if arbiter is None or not watcher.depends_on:
        return
    for name in watcher.depends_on:
        dependency = next((w for w in arbiter.watchers if w.name.lower() == name.lower()), None)
        if dependency is None:
            raise DependencyError(f"watcher {watcher.name} not started: it depends on "
                                  f"{name}, which does not exist")
        if dependency.on_demand:
            continue
        if dependency.status() == "stopped":
            logger.info("watcher %s: starting %s first (depends_on)", watcher.name,
                        dependency.name)
            await dependency.start()
        if arbiter.quitting:
            return
        window = dependency.ready_window
        health = dependency.health

        def ready(dep: Watcher = dependency, owner: Arbiter = arbiter) -> bool:
            # A quit wakes this too: the dependency's processes exit.
            return dep.health.all_ready() or owner.quitting

        if not await health.wait(ready, window):
            states = health.states()
            detail = ", ".join(f"pid {pid} {state}" for pid, state in states.items())
            raise DependencyError(
                f"watcher {watcher.name} not started: {dependency.name} (depends_on) is not "
                f"ready after {window:g}s ({dependency.status()}, "
                f"{detail or 'no process running'})")
