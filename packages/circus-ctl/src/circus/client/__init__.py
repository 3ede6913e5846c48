"""circus.client: talk to a running circusd.

* :class:`CircusClient` — blocking calls on the control endpoint;
* :class:`AsyncCircusClient` — the same on asyncio, many calls in flight;
* :class:`EventSubscriber` / :class:`AsyncEventSubscriber` — the event channel;
* :func:`open_sub` — a SUB socket on any PUB endpoint (events, stats), maybe over ssh;
* :func:`close_ssh_tunnels` — end the ssh tunnels those sockets opened;
* :func:`heartbeat_options` / :func:`link_changes` — know when a subscriber's
  link to its publisher is lost and found again (:class:`LinkChange`);
* :class:`CurveKeys` / :func:`load_curve_keys` — CURVE keys for a daemon that
  requires them (``curve=`` on every client and subscriber), :func:`write_key_pair`
  and :func:`read_key_file` for key files;
* the exceptions, rooted at :class:`ClientError`; an error reply raises the
  :class:`CallError` subclass of its errno (:data:`ERRNO_CLASSES`);
* the JSON shapes of requests, replies and events, as ``TypedDict`` classes: :class:`Reply`
  and one per command family (:class:`ListReply`, :class:`StatusReply`...),
  :class:`EventPayload`; ``call`` returns the shape of its command's reply;
* :mod:`circus.client.protocol` — the wire vocabulary all packages share
  (default endpoints, endpoint parsing, human formats, errnos);
* :mod:`circus.client.cli` — the command-line options the Circus tools share.

The subscriber and asyncio names, and the shapes, load on first use so that
``import circus.client`` (and with it ``circusctl``) does not pay for
importing pyzmq or asyncio, nor for creating the shape classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.client._curve import (
    ROLES,
    CurveKeys,
    KeyFile,
    KeyFileError,
    load_curve_keys,
    read_key_file,
    write_key_pair,
)
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
    from circus.client._liveness import LinkChange, heartbeat_options, link_changes
    from circus.client._shapes import (
        ActionInfo,
        ActionReply,
        BackoffSlot,
        DroppedOutput,
        DStatsReply,
        Event,
        EventPayload,
        IPythonReply,
        JSONObject,
        JSONValue,
        ListReply,
        NumProcessesReply,
        NumWatchersReply,
        OptionsReply,
        OutputLine,
        ProcessInfo,
        ProcessStatsReply,
        Reply,
        Request,
        ScaleReply,
        SocketInfo,
        SocketsReply,
        StatsReply,
        StatusReply,
        TailReply,
        VersionReply,
        WatcherStatsReply,
    )

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_PUBSUB",
    "DEFAULT_STATS_ENDPOINT",
    "ERRNO_CLASSES",
    "ROLES",
    "ActionInfo",
    "ActionReply",
    "AsyncCircusClient",
    "AsyncEventSubscriber",
    "BackoffSlot",
    "BadMessageDataError",
    "CallError",
    "CallTimeout",
    "CircusClient",
    "CircusOSError",
    "ClientError",
    "CommandError",
    "ConnectionFailed",
    "CurveKeys",
    "DStatsReply",
    "DroppedOutput",
    "Event",
    "EventPayload",
    "EventSubscriber",
    "IPythonReply",
    "InvalidJSONError",
    "JSONObject",
    "JSONValue",
    "KeyFile",
    "KeyFileError",
    "LinkChange",
    "ListReply",
    "MessageError",
    "NumProcessesReply",
    "NumWatchersReply",
    "OptionsReply",
    "OutputLine",
    "ProcessInfo",
    "ProcessStatsReply",
    "ProtocolError",
    "Reply",
    "Request",
    "ScaleReply",
    "SocketInfo",
    "SocketsReply",
    "StatsReply",
    "StatusReply",
    "TailReply",
    "UnknownCommandError",
    "VersionReply",
    "WatcherStatsReply",
    "close_ssh_tunnels",
    "error_for_reply",
    "heartbeat_options",
    "link_changes",
    "load_curve_keys",
    "make_message",
    "open_sub",
    "parse_published",
    "raise_for_status",
    "read_key_file",
    "write_key_pair",
]

# Loaded on first use: each imports pyzmq (and the async ones asyncio), or
# creates two dozen classes, which one-shot tools like circusctl must not pay for.
_LAZY = {
    "EventSubscriber": "circus.client._events",
    "open_sub": "circus.client._events",
    "AsyncCircusClient": "circus.client._async",
    "AsyncEventSubscriber": "circus.client._async_events",
    **dict.fromkeys(("LinkChange", "heartbeat_options", "link_changes"),
                    "circus.client._liveness"),
    **dict.fromkeys(
        ("ActionInfo", "ActionReply", "BackoffSlot", "DroppedOutput", "DStatsReply", "Event",
         "EventPayload", "IPythonReply", "JSONObject", "JSONValue", "ListReply",
         "NumProcessesReply", "NumWatchersReply", "OptionsReply", "OutputLine", "ProcessInfo",
         "ProcessStatsReply", "Reply", "Request", "ScaleReply", "SocketInfo", "SocketsReply",
         "StatsReply", "StatusReply", "TailReply", "VersionReply", "WatcherStatsReply"),
        "circus.client._shapes"),
}

# Hidden from type checkers, which see the lazy names through the imports
# above: a module __getattr__ would make them accept any misspelt name.
if not TYPE_CHECKING:
    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'circus.client' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
