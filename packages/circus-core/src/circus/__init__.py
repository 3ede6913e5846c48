"""Circus: a process and socket manager.

The everyday entry point is :func:`get_arbiter`; the classes live in the
documented modules ``circus.arbiter``, ``circus.watcher`` and ``circus.process``.
Other Circus packages (circus-ctl, circus-stats, circus-plugins) install
further modules into this same ``circus`` package.
"""

from __future__ import annotations

import os
import sys
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from typing_extensions import Unpack

    from circus._channels.controller import ZmqContext
    from circus._setup.build import ArbiterExtras
    from circus.arbiter import Arbiter


def _extend_namespace(path: list[str]) -> list[str]:
    """Add every other ``circus`` directory on sys.path to this package's path.

    So circus.client, circus.plugins... from separately installed packages load
    even when they sit in another sys.path entry (editable installs). This is
    what ``pkgutil.extend_path`` does for plain directories, without the
    ~10 ms its import costs every ``circusctl`` run.
    """
    extended = list(path)
    for entry in sys.path:
        candidate = os.path.join(entry or os.curdir, __name__)
        if candidate not in extended and os.path.isdir(candidate):
            extended.append(candidate)
    return extended


__path__ = _extend_namespace(__path__)

__version__ = "0.1.0"
__all__ = ["__version__", "get_arbiter"]


def get_arbiter(
    watchers: Iterable[Mapping[str, Any]],
    controller: str | None = None,
    pubsub_endpoint: str | None = None,
    stats_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    context: ZmqContext | None = None,
    background: bool = False,
    stream_backend: str = "thread",
    plugins: Iterable[Mapping[str, object]] | None = None,
    debug: bool = False,
    proc_name: str = "circusd",
    loop: object = None,
    **arbiter_options: Unpack[ArbiterExtras],
) -> Arbiter:
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
        arbiter_options: the other keyword arguments of
            :class:`~circus.arbiter.Arbiter` (``warmup_delay``, ``sockets``...).

    Returns:
        The arbiter; call ``start()`` to run it.

    Example:
        >>> arbiter = get_arbiter([{"cmd": "sleep 60", "numprocesses": 2}])
    """
    # Import cost: ``circus`` is shared with circus.client and the other packages,
    # which must not load the daemon (zmq channels, psutil, config) on import.
    from circus._base.protocol import DEFAULT_ENDPOINT, DEFAULT_PUBSUB
    from circus.arbiter import Arbiter
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
