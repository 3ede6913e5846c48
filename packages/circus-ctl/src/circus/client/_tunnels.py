"""The ssh tunnels opened for client sockets, and ending them.

pyzmq runs each tunnel in a forked copy of the program (paramiko) or in an
``ssh`` child (pexpect). A forked copy of a program that handles SIGTERM
itself (an asyncio loop's signal handlers, a curses console) ignores
``terminate()``, and multiprocessing's exit hook would then wait for it
forever. So tunnels are ended with SIGKILL: they hold nothing to flush.
"""

from __future__ import annotations

from typing import Any

_OPEN: list[Any] = []


def track(tunnel: Any) -> Any:
    """Remember ``tunnel`` so that :func:`close_ssh_tunnels` ends it; return it."""
    if tunnel is not None:
        _OPEN.append(tunnel)
    return tunnel


def end_tunnel(tunnel: Any) -> None:
    """End one tunnel (no-op for None)."""
    if tunnel is None:
        return
    if tunnel in _OPEN:
        _OPEN.remove(tunnel)
    if hasattr(tunnel, "join"):  # a multiprocessing.Process: the paramiko forwarder
        tunnel.kill()
        tunnel.join(5)
    else:  # a pexpect child running the ssh binary
        tunnel.terminate(force=True)


def close_ssh_tunnels() -> None:
    """End every ssh tunnel this program's client sockets opened.

    Call it before exiting a program that installs its own SIGTERM handling
    and used ``ssh_server``; closing an :class:`EventSubscriber` ends its own.
    """
    while _OPEN:
        end_tunnel(_OPEN[-1])
