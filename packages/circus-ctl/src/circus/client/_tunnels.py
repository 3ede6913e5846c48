"""The ssh tunnels opened for client sockets, and ending them.

pyzmq runs a paramiko tunnel in a forked copy of the program (a
``multiprocessing.Process``). A forked copy of a program that handles SIGTERM
itself (an asyncio loop's signal handlers, a curses console) ignores
``terminate()``, and multiprocessing's exit hook would then wait for it
forever. So those tunnels are ended with SIGKILL: they hold nothing to flush.

Without paramiko, pyzmq starts ``ssh -f`` through pexpect and hands back a
pid: that of an ssh which already went to the background, or of the user's
ControlMaster. Neither is ours to kill; the backgrounded ssh exits by itself
once the tunnel has been idle for its timeout, and pyzmq cancels a
ControlMaster forward at exit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from multiprocessing import Process

Tunnel: TypeAlias = "Process | int"
"""What ``zmq.ssh.tunnel_connection`` returns: the paramiko forwarder, or an ssh pid."""

_OPEN: list[Tunnel] = []


def track(tunnel: Tunnel) -> Tunnel:
    """Remember ``tunnel`` so that :func:`close_ssh_tunnels` ends it; return it."""
    _OPEN.append(tunnel)
    return tunnel


def end_tunnel(tunnel: Tunnel | None) -> None:
    """End one tunnel (no-op for None and for an ssh pid, see the module notes)."""
    if tunnel is None:
        return
    if tunnel in _OPEN:
        _OPEN.remove(tunnel)
    if isinstance(tunnel, int):
        return
    tunnel.kill()
    tunnel.join(5)


def close_ssh_tunnels() -> None:
    """End every ssh tunnel this program's client sockets opened.

    Call it before exiting a program that installs its own SIGTERM handling
    and used ``ssh_server``; closing an :class:`EventSubscriber` ends its own.
    """
    while _OPEN:
        end_tunnel(_OPEN[-1])
