"""circus.client: talk to a running circusd.

* :class:`CircusClient` — blocking calls on the control endpoint;
* :class:`AsyncCircusClient` — the same on asyncio, many calls in flight;
* :class:`EventSubscriber` / :class:`AsyncEventSubscriber` — the event channel;
* :func:`open_sub` — a SUB socket on any PUB endpoint (events, stats), maybe over ssh;
* :func:`close_ssh_tunnels` — end the ssh tunnels those sockets opened;
* the exceptions, rooted at :class:`ClientError`.

The subscriber and asyncio names load on first use so that ``import
circus.client`` (and with it ``circusctl``) does not pay for importing
pyzmq or asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.client._errors import (
    CallError,
    CallTimeout,
    ClientError,
    ConnectionFailed,
    ProtocolError,
    raise_for_status,
)
from circus.client._message import (
    DEFAULT_ENDPOINT,
    DEFAULT_PUBSUB,
    make_message,
    parse_published,
)
from circus.client._sync import CircusClient
from circus.client._tunnels import close_ssh_tunnels

if TYPE_CHECKING:
    from circus.client._async import AsyncCircusClient
    from circus.client._async_events import AsyncEventSubscriber
    from circus.client._events import EventSubscriber, open_sub

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_PUBSUB",
    "AsyncCircusClient",
    "AsyncEventSubscriber",
    "CallError",
    "CallTimeout",
    "CircusClient",
    "ClientError",
    "ConnectionFailed",
    "EventSubscriber",
    "ProtocolError",
    "close_ssh_tunnels",
    "make_message",
    "open_sub",
    "parse_published",
    "raise_for_status",
]

# Loaded on first use: each imports pyzmq (and the async ones asyncio), which
# one-shot tools like circusctl must not pay for.
_LAZY = {
    "EventSubscriber": "circus.client._events",
    "open_sub": "circus.client._events",
    "AsyncCircusClient": "circus.client._async",
    "AsyncEventSubscriber": "circus.client._async_events",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'circus.client' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
