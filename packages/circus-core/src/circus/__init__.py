"""Circus: a process and socket manager.

The everyday entry point is :func:`get_arbiter`; the classes live in the
documented modules ``circus.arbiter``, ``circus.watcher`` and ``circus.process``.
Other Circus packages (circus-ctl, circus-stats, circus-plugins) install
further modules into this same ``circus`` package.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pkgutil import extend_path
from typing import Any

# Let circus.client, circus.plugins... from separately installed packages load
# even when they sit in another sys.path entry (editable installs).
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
__all__ = ["__version__", "get_arbiter"]


def get_arbiter(
    watchers: Iterable[Mapping[str, Any]],
    controller: str | None = None,
    pubsub_endpoint: str | None = None,
    stats_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    context: Any = None,
    background: bool = False,
    stream_backend: str = "thread",
    plugins: Iterable[Mapping[str, Any]] | None = None,
    debug: bool = False,
    proc_name: str = "circusd",
    loop: Any = None,
    **arbiter_options: Any,
) -> Any:
    """Build an :class:`~circus.arbiter.Arbiter` running the given watchers.

    Args:
        watchers: one mapping per watcher, with the watcher options as keys
            (``cmd`` is required; ``name`` defaults to the program's name).
        controller: the control endpoint (default ``tcp://127.0.0.1:5555``).
        pubsub_endpoint: the event endpoint (default ``tcp://127.0.0.1:5556``).
        env: environment entries added to every watcher's ``env``.
        background: accepted for compatibility; call ``start()`` in a thread
            of your own to run the arbiter in the background.
        stream_backend: only ``thread`` exists (gevent is not supported).
        loop: an asyncio loop or tornado IOLoop; see ``Arbiter.start``.

    Returns:
        The arbiter; call ``start()`` to run it.

    Example:
        >>> arbiter = get_arbiter([{"cmd": "sleep 60", "numprocesses": 2}])
    """
    from circus.arbiter import DEFAULT_ENDPOINT, DEFAULT_PUBSUB, Arbiter
    from circus.watcher import Watcher

    if stream_backend != "thread":
        raise ValueError(f"stream_backend {stream_backend!r} is not supported; use 'thread'")
    built = []
    for spec in watchers:
        options = dict(spec)
        cmd = options.pop("cmd")
        watcher_name = options.pop("name", None) or os.path.basename(str(cmd).split()[0])
        if env:
            options["env"] = {**env, **(options.get("env") or {})}
        built.append(Watcher(watcher_name, cmd, **options))
    return Arbiter(
        built,
        controller or DEFAULT_ENDPOINT,
        pubsub_endpoint or DEFAULT_PUBSUB,
        stats_endpoint=stats_endpoint,
        context=context,
        plugins=plugins,
        debug=debug,
        proc_name=proc_name,
        loop=loop,
        **arbiter_options,
    )
