"""The SUB socket on circusd-stats's PUB endpoint, directly or through an ssh tunnel."""

from __future__ import annotations

import zmq
from circus.client import ConnectionFailed, CurveKeys, open_sub
from circus.top._topics import PREFIX


class ChannelError(Exception):
    """The stats endpoint cannot be used; the message says what to fix."""


def open_stats_socket(
    context: zmq.SyncContext, endpoint: str, ssh_server: str | None = None,
    ssh_keyfile: str | None = None, curve: CurveKeys | None = None,
) -> zmq.SyncSocket:
    """A SUB socket subscribed to ``stat.`` and connected to ``endpoint``.

    With ``curve`` it is a CURVE client of circusd-stats (whose key pair is
    the one given to it as ``--curve-key``; circusd's when circusd runs it).

    Raises:
        ChannelError: the endpoint is refused by ZeroMQ or the ssh tunnel fails.
    """
    try:
        sock = open_sub(context, endpoint, [PREFIX], ssh_server, ssh_keyfile, curve=curve)
    except ConnectionFailed as exc:
        raise ChannelError(str(exc)) from exc
    return sock
