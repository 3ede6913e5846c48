"""Telling systemd how circusd is doing: the ``sd_notify`` protocol (``Type=notify``).

systemd passes a service the address of a datagram socket in
``NOTIFY_SOCKET``; the service sends it newline-separated ``KEY=VALUE``
states (``READY=1``, ``STOPPING=1``, ``WATCHDOG=1``, ``STATUS=...``). An
address starting with ``@`` names a socket in the abstract namespace. With
``WatchdogSec=``, systemd also sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``,
the one process it means) and expects ``WATCHDOG=1`` more often than that.

Written directly on an ``AF_UNIX`` socket: the protocol is a few lines, and
libsystemd (or a binding of it) would be a dependency for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import MutableMapping

logger = logging.getLogger("circus")

ENVIRONMENT = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""The variables systemd sets for the notify protocol; circusd's watchers never see them."""


def socket_address(text: str) -> str:
    """The ``AF_UNIX`` address ``NOTIFY_SOCKET`` names (``@name`` → abstract ``\\0name``).

    Raises:
        ValueError: neither an absolute path nor an ``@`` name.
    """
    if text.startswith("@") and len(text) > 1:
        return "\0" + text[1:]
    if text.startswith("/"):
        return text
    raise ValueError(f"NOTIFY_SOCKET={text!r}: expected an absolute path or an @abstract name")


def watchdog_interval(usec: str | None, watchdog_pid: str | None, pid: int) -> float | None:
    """Seconds between two ``WATCHDOG=1``: half of ``WATCHDOG_USEC``, as systemd advises.

    None when no watchdog is asked of ``pid``: no ``WATCHDOG_USEC``, or a
    ``WATCHDOG_PID`` naming another process.

    Raises:
        ValueError: a value that is not a positive integer.
    """
    if not usec:
        return None
    if not usec.isdigit() or int(usec) == 0:
        raise ValueError(f"WATCHDOG_USEC={usec!r}: expected a positive number of microseconds")
    if watchdog_pid:
        if not watchdog_pid.isdigit():
            raise ValueError(f"WATCHDOG_PID={watchdog_pid!r}: expected a process id")
        if int(watchdog_pid) != pid:
            return None
    return int(usec) / 2_000_000


class SystemdNotifier:
    """A sender of ``sd_notify`` states to one ``NOTIFY_SOCKET``.

    Args:
        address: an ``AF_UNIX`` datagram address (see :func:`socket_address`).
        watchdog: seconds between two ``WATCHDOG=1``; None: no watchdog.
    """

    def __init__(self, address: str, watchdog: float | None = None) -> None:
        self.address = address
        self.watchdog = watchdog
        self._sock: socket.socket | None = None
        self._failed = False

    def __repr__(self) -> str:
        return f"<SystemdNotifier {self.shown_address} watchdog={self.watchdog}>"

    @property
    def shown_address(self) -> str:
        """The address as ``NOTIFY_SOCKET`` spells it (``@name`` for an abstract one)."""
        return "@" + self.address[1:] if self.address.startswith("\0") else self.address

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None,
                     pid: int | None = None) -> SystemdNotifier | None:
        """The notifier systemd asked for in ``environ`` (default ``os.environ``), or None.

        The variables are removed from ``environ``: a watcher inheriting
        ``NOTIFY_SOCKET`` could otherwise speak for circusd, as ``sd_notify``'s
        ``unset_environment`` prevents.

        Raises:
            ValueError: a variable is malformed; the message names it.
        """
        env = os.environ if environ is None else environ
        values = {name: env.pop(name, "") for name in ENVIRONMENT}
        if not values["NOTIFY_SOCKET"]:
            return None
        address = socket_address(values["NOTIFY_SOCKET"])
        interval = watchdog_interval(values["WATCHDOG_USEC"], values["WATCHDOG_PID"],
                                     os.getpid() if pid is None else pid)
        return cls(address, interval)

    def send(self, *states: str) -> bool:
        """Send ``states`` as one datagram; False (logged once) when systemd cannot get it.

        Never blocks: a full receive queue drops the datagram, as a missed
        watchdog ping is better than a stalled event loop.
        """
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(states).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                logger.warning("NOTIFY_SOCKET %s: cannot send %s: %s", self.shown_address,
                               "/".join(states), exc.strerror or exc)
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str) -> bool:
        """``READY=1`` with a ``STATUS=`` line for ``systemctl status``."""
        return self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> bool:
        """``STOPPING=1``: the stop has begun."""
        return self.send("STOPPING=1", "STATUS=stopping")

    async def keep_watchdog(self) -> None:
        """Send ``WATCHDOG=1`` every :attr:`watchdog` seconds (runs until cancelled).

        Run on circusd's loop, so a stuck loop stops the pings and systemd
        restarts circusd, which is what the watchdog is for.
        """
        if self.watchdog is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog)

    def close(self) -> None:
        """Close the socket (a later :meth:`send` opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
