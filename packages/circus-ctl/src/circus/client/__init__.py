"""circus.client: talk to a running circusd.

* :class:`CircusClient` — blocking calls on the control endpoint;
* :class:`AsyncCircusClient` — the same on asyncio, many calls in flight;
* :class:`EventSubscriber` / :class:`AsyncEventSubscriber` — the event channel;
* :func:`open_sub` — a SUB socket on any PUB endpoint (events, stats), maybe over ssh;
* :func:`close_ssh_tunnels` — end the ssh tunnels those sockets opened;
* the exceptions, rooted at :class:`ClientError`; an error reply raises the
  :class:`CallError` subclass of its errno (:data:`ERRNO_CLASSES`);
* :mod:`circus.client.protocol` — the wire vocabulary all packages share
  (default endpoints, endpoint parsing, human formats, errnos);
* :mod:`circus.client.cli` — the command-line options the Circus tools share.

The subscriber and asyncio names load on first use so that ``import
circus.client`` (and with it ``circusctl``) does not pay for importing
pyzmq or asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.client._errors import (
    ERRNO_CLASSES,
    BadMessageDataError,
    CallError,
    CallTimeout,
    CircusOSError,
    ClientError,
    CommandError,
    ConnectionFailed,
    InvalidJSONError,
    MessageError,
    ProtocolError,
    UnknownCommandError,
    error_for_reply,
    raise_for_status,
)
from circus.client._message import make_message, parse_published
from circus.client._sync import CircusClient
from circus.client._tunnels import close_ssh_tunnels
from circus.client.protocol import DEFAULT_ENDPOINT, DEFAULT_PUBSUB, DEFAULT_STATS_ENDPOINT

if TYPE_CHECKING:
    from circus.client._async import AsyncCircusClient
    from circus.client._async_events import AsyncEventSubscriber
    from circus.client._events import EventSubscriber, open_sub

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_PUBSUB",
    "DEFAULT_STATS_ENDPOINT",
    "ERRNO_CLASSES",
    "AsyncCircusClient",
    "AsyncEventSubscriber",
    "BadMessageDataError",
    "CallError",
    "CallTimeout",
    "CircusClient",
    "CircusOSError",
    "ClientError",
    "CommandError",
    "ConnectionFailed",
    "EventSubscriber",
    "InvalidJSONError",
    "MessageError",
    "ProtocolError",
    "UnknownCommandError",
    "close_ssh_tunnels",
    "error_for_reply",
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
