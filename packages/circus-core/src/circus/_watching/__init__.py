"""Layer 2, the mechanics of keeping processes (private).

Spawning, reaping, stopping, crash-loop backoff, worker ids, output pipes,
hooks, on-demand starts, rlimits and psutil sampling: the parts
:class:`~circus.process.Process` and :class:`~circus.watcher.Watcher` are
built from. They never import a Watcher, a Process or the Arbiter: each
module names what it needs of them in a ``Protocol`` of its own (``Tracked``,
``HookOwner``, ``StreamOwner``, ``Piped``, ``StopOwner``, ``Stoppable``,
``OnDemandWatcher``, ``OnDemandArbiter``).
"""
