"""Layer 2, the mechanics of keeping processes (private).

Spawning, reaping, stopping, crash-loop backoff, worker ids, output pipes,
hooks, on-demand starts, rlimits and psutil sampling: the parts
:class:`~circus.process.Process` and :class:`~circus.watcher.Watcher` are
built from. They see a Watcher or a Process only as a type
(``if TYPE_CHECKING``), never import one at run time.
"""
