"""Opening a pyzmq DEALER on the control endpoint, directly or through an ssh tunnel."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

import zmq
from circus.client._errors import ConnectionFailed
from circus.client._probe import probe
from circus.client._tunnels import Tunnel, track

if TYPE_CHECKING:
    from circus.client._curve import CurveKeys

SocketT = TypeVar("SocketT", bound="zmq.Socket[object]")
"""The socket class of a context: ``zmq.SyncSocket``, or ``zmq.asyncio.Socket``."""


def open_dealer(
    context: zmq.Context[SocketT], endpoint: str, ssh_server: str | None,
    ssh_keyfile: str | None, timeout: float, curve: CurveKeys | None = None,
) -> tuple[SocketT, Tunnel | None]:
    """A DEALER socket with a random identity, connected (maybe through ssh) to ``endpoint``.

    Also returns the ssh tunnel it opened (None without ssh), for the owner to
    end when it closes the socket. With ``curve`` the connection is a CURVE
    client of the server those keys name.
    """
    if ssh_server is None:
        probe(endpoint)
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
    sock.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        curve.secure(sock)
        # After a refused handshake the DEALER has no peer and a send would wait
        # forever; the caller turns the timeout into CallTimeout.
        sock.setsockopt(zmq.SNDTIMEO, max(1, int(timeout * 1000)))
    tunnel: Tunnel | None = None
    try:
        if ssh_server is None:
            sock.connect(endpoint)
        else:
            tunnel = connect_ssh(sock, endpoint, ssh_server, ssh_keyfile, timeout)
    except zmq.ZMQError as exc:
        sock.close()
        raise ConnectionFailed(
            endpoint, "invalid", f"cannot connect to {endpoint}: {exc}; "
            "check --endpoint / CIRCUSCTL_ENDPOINT",
        ) from exc
    except ConnectionFailed:
        sock.close()
        raise
    return sock, tunnel


def connect_ssh(
    sock: zmq.Socket[object], endpoint: str, server: str, keyfile: str | None, timeout: float
) -> Tunnel:
    """Connect ``sock`` to ``endpoint`` as seen from ``server`` (``user@host:port``).

    Returns the tunnel, tracked for :func:`~circus.client.close_ssh_tunnels`.
    """
    import importlib.util

    from zmq import ssh  # imported here: it pulls in multiprocessing and maybe paramiko

    # pyzmq defaults to pexpect + the ssh binary on POSIX; prefer paramiko when installed.
    use_paramiko = importlib.util.find_spec("paramiko") is not None
    try:
        # The tunnel process outlives idle periods shorter than this, then exits.
        return track(ssh.tunnel_connection(  # type: ignore[call-overload]
            sock, endpoint, server, keyfile=keyfile, paramiko=use_paramiko,
            timeout=max(int(timeout) + 10, 60)))
    except Exception as exc:  # paramiko/pexpect raise many unrelated types
        raise ConnectionFailed(
            endpoint, "ssh", f"cannot open an ssh tunnel to {server} for {endpoint}: {exc}; "
            "check --ssh / --ssh_keyfile and that the key is accepted",
        ) from exc
