"""Sockets circusd binds once and hands to its processes (``[socket:NAME]``).

A :class:`CircusSocket` is bound when the arbiter starts, before any watcher,
and closed when it stops. Processes inherit it by fd number
(``$(circus.sockets.NAME)``), so circusd is never in the data path.

``so_reuseport`` sockets are different: a listening copy in circusd would take
its share of the connections and never answer them, so circusd only binds a
placeholder (never ``listen()``ed, so the kernel gives it no connection) to
reserve and report the address, and every spawned process gets its own fresh
listening socket bound to the same address (:meth:`CircusSocket.fresh_reuseport`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from circus.errors import CircusError

logger = logging.getLogger("circus")

_FAMILIES = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}
_TYPES = {
    "SOCK_STREAM": socket.SOCK_STREAM,
    "SOCK_DGRAM": socket.SOCK_DGRAM,
    "SOCK_SEQPACKET": socket.SOCK_SEQPACKET,
    "SOCK_RAW": socket.SOCK_RAW,
    "SOCK_RDM": socket.SOCK_RDM,
}
# Types that have connections, and so a backlog and a listen().
_LISTENING_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)


def _constant(value: object, table: Mapping[str, int], what: str) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().upper()
    if text in table:
        return table[text]
    raise ValueError(f"unknown socket {what} {value!r}; expected one of {', '.join(table)}")


def _protocol(proto: object) -> int:
    if proto is None or proto == "":
        return 0
    if isinstance(proto, int):
        return int(proto)
    if str(proto).isdigit():
        return int(str(proto))
    try:
        return socket.getprotobyname(str(proto))
    except OSError:
        raise ValueError(f"unknown socket protocol {proto!r}") from None


@runtime_checkable
class SocketLike(Protocol):
    """What an arbiter needs of a socket it hands to processes: its fd.

    :class:`CircusSocket` is one; so is a plain :class:`socket.socket`.
    """

    def fileno(self) -> int:
        """The file descriptor processes inherit (negative: not open)."""
        ...


SocketSpec = SocketLike | Mapping[str, object]
"""One entry of ``Arbiter(sockets=...)``: a socket, or the options of a ``CircusSocket``."""


class CircusSocket:
    """A socket declared by a ``[socket:NAME]`` section.

    Args:
        name: the socket name (lowercased), as in ``$(circus.sockets.NAME)``.
        host, port: the address to bind; port 0 lets the system pick one.
        family: ``AF_INET``, ``AF_INET6`` or ``AF_UNIX`` (name or constant).
        type: ``SOCK_STREAM``, ``SOCK_DGRAM`` or ``SOCK_SEQPACKET`` (...).
        proto: a protocol name or number (0: the default).
        backlog: the ``listen()`` backlog.
        path: a unix socket path; forces ``AF_UNIX``.
        umask: the umask the unix socket file is created with.
        replace: remove a stale unix socket file at ``path`` first.
        interface: a network interface to bind to (``SO_BINDTODEVICE``).
        so_reuseport: one socket per process (see the module docstring).
        blocking: leave the socket in blocking mode.
        use_papa: let papa own the listening socket (``circus._papa``), so it
            survives a restart of circusd; only ``use_papa`` watchers may use it.

    Raises:
        ValueError: an unknown family, type or protocol.
    """

    def __init__(
        self,
        name: str = "",
        host: str = "localhost",
        port: int | None = 8080,
        family: str | int = "AF_INET",
        type: str | int = "SOCK_STREAM",
        proto: str | int | None = None,
        backlog: int = 2048,
        path: str | None = None,
        umask: int | None = None,
        replace: bool = False,
        interface: str | None = None,
        so_reuseport: bool = False,
        blocking: bool = False,
        use_papa: bool = False,
    ) -> None:
        self.name = name.lower()
        self.family = socket.AF_UNIX if path else _constant(family, _FAMILIES, "family")
        self.type = _constant(type, _TYPES, "type")
        self.proto = _protocol(proto)
        self.backlog = int(backlog)
        self.path = path
        self.umask = umask
        self.replace = bool(replace)
        self.interface = interface or None
        self.so_reuseport = bool(so_reuseport)
        self.blocking = bool(blocking)
        self.use_papa = bool(use_papa)
        # True while papa holds it: circusd then has no copy (and no fd).
        self.papa_held = False
        self._host = host
        self._port = int(port or 0)
        self._sock: socket.socket | None = None

    @classmethod
    def load_from_config(cls, options: Mapping[str, Any]) -> CircusSocket:
        """Build a socket from a ``[socket:NAME]`` mapping (``circus.config``'s)."""
        known = {
            "name", "host", "port", "family", "type", "proto", "backlog", "path", "umask",
            "replace", "interface", "so_reuseport", "blocking", "use_papa",
        }
        return cls(**{key: value for key, value in options.items() if key in known})

    def __repr__(self) -> str:
        state = f"fd {self._sock.fileno()}" if self._sock is not None else "unbound"
        return f"<CircusSocket {self.name} {self.location} {state}>"

    # -- the bound address --------------------------------------------------

    @property
    def host(self) -> str:
        """The bound host (as configured until bound)."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port: the system's choice once a port-0 socket is bound."""
        return self._port

    @property
    def location(self) -> str:
        """``host:port`` or the unix path, for logs and errors."""
        if self.path:
            return self.path
        if self.family == socket.AF_INET6 and ":" in self._host:
            return f"[{self._host}]:{self._port}"
        return f"{self._host}:{self._port}"

    @property
    def sock(self) -> socket.socket | None:
        """The bound socket object, or None before ``bind_and_listen``."""
        return self._sock

    @property
    def listens(self) -> bool:
        """True if circusd's copy accepts connections (not UDP, not so_reuseport)."""
        return self.type in _LISTENING_TYPES and not self.so_reuseport

    def fileno(self) -> int:
        """The fd of circusd's copy (-1 before ``bind_and_listen``)."""
        return self._sock.fileno() if self._sock is not None else -1

    # -- binding --------------------------------------------------------------

    def bind_and_listen(self) -> None:
        """Bind (and, for stream and seqpacket sockets, listen).

        Raises:
            CircusError: the address cannot be bound (in use, a live unix
                socket at ``path``, no permission...); the message names the
                socket and the address.
        """
        if self._sock is not None or self.papa_held:
            return
        try:
            sock = self._bound_socket(listen=self.listens)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CircusError(f"socket {self.name!r}: cannot bind {self.location}: "
                              f"{reason}") from exc
        self._sock = sock
        if not self.path:
            address = sock.getsockname()
            self._host, self._port = str(address[0]), int(address[1])
        logger.info("socket %s bound to %s (fd %d)", self.name, self.location, sock.fileno())

    def held_by_papa(self, host: str | None, port: int | None) -> None:
        """Papa listens on this socket for us (at ``host:port``, for a TCP one)."""
        self.papa_held = True
        if host is not None and port is not None and not self.path:
            self._host, self._port = host, port
        logger.info("socket %s held by papa at %s", self.name, self.location)

    def fresh_reuseport(self) -> socket.socket:
        """A new listening SO_REUSEPORT socket on this socket's address, for one process.

        Raises:
            OSError: it cannot be bound.
        """
        return self._bound_socket(listen=self.type in _LISTENING_TYPES)

    def close(self) -> None:
        """Close circusd's copy and remove the unix socket file it created."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        sock.close()
        if self.path:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _bound_socket(self, listen: bool) -> socket.socket:
        sock = socket.socket(self.family, self.type, self.proto)
        try:
            self._configure(sock)
            if self.path:
                self._bind_unix(sock)
            else:
                sock.bind(self._address())
            if listen:
                sock.listen(self.backlog)
        except BaseException:
            sock.close()
            raise
        return sock

    def _configure(self, sock: socket.socket) -> None:
        if self.family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.so_reuseport:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if self.interface:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                            self.interface.encode() + b"\0")
        sock.setblocking(self.blocking)

    def _address(self) -> tuple[object, ...]:
        infos = socket.getaddrinfo(self._host, self._port, self.family, self.type)
        if not infos:
            raise OSError(f"cannot resolve {self._host!r}")
        return tuple(infos[0][4])

    def _bind_unix(self, sock: socket.socket) -> None:
        assert self.path is not None
        if os.path.lexists(self.path):
            self._remove_stale(self.path)
        old = os.umask(self.umask) if self.umask is not None else None
        try:
            sock.bind(self.path)
        finally:
            if old is not None:
                os.umask(old)

    def _remove_stale(self, path: str) -> None:
        mode = os.lstat(path).st_mode
        if not stat.S_ISSOCK(mode):
            raise OSError(f"{path} exists and is not a socket; not replacing it")
        if not self.replace:
            raise OSError(f"{path} already exists (set replace = true to remove a stale socket)")
        probe = socket.socket(socket.AF_UNIX, self.type)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: a stale file from a dead daemon
            return
        finally:
            probe.close()
        raise OSError(f"{path} is a live socket another process listens on; not replacing it")


def build_sockets(
    specs: Mapping[str, SocketSpec] | Sequence[SocketSpec] | None,
) -> dict[str, SocketLike]:
    """Normalise ``Arbiter(sockets=...)``: name → socket.

    Accepts a mapping of names to :class:`CircusSocket` objects or option
    mappings, or a sequence of either; other objects with ``fileno()`` are
    kept as they are.
    """
    items: list[tuple[str | None, SocketSpec]]
    if specs is None:
        return {}
    items = list(specs.items()) if isinstance(specs, Mapping) else [(None, s) for s in specs]
    result: dict[str, SocketLike] = {}
    for key, spec in items:
        sock: SocketLike
        if isinstance(spec, Mapping):
            options = dict(spec)
            options.setdefault("name", key or "")
            sock = CircusSocket.load_from_config(options)
        else:
            sock = spec
        name = str(key if key is not None else getattr(sock, "name", "")).lower()
        if not name:
            raise ValueError("a socket needs a name")
        result[name] = sock
    return result


_REFERENCE = re.compile(r"circus\.sockets\.([A-Za-z0-9_\-]+)", re.IGNORECASE)


def referenced_sockets(*templates: str | Sequence[str] | None) -> list[str]:
    """Socket names mentioned as ``circus.sockets.NAME`` in cmd/args, in order, lowercased."""
    names: list[str] = []
    for template in templates:
        if template is None:
            continue
        for text in [template] if isinstance(template, str) else template:
            for match in _REFERENCE.finditer(str(text)):
                name = match.group(1).lower()
                if name not in names:
                    names.append(name)
    return names


@dataclass
class SpawnSockets:
    """The socket fds one spawn hands over; ``close()`` right after the spawn."""

    pass_fds: tuple[int, ...] = ()
    variables: dict[str, int] = field(default_factory=dict)
    listen_fds: tuple[tuple[str, int], ...] = ()
    stdin_fd: int | None = None
    fresh: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        """Close the per-process so_reuseport sockets: the child has its copies."""
        for sock in self.fresh:
            sock.close()
        self.fresh.clear()


def spawn_sockets(
    sockets: Mapping[str, SocketLike],
    names: Sequence[str],
    stdin_socket: str | None = None,
    activation: bool = False,
) -> SpawnSockets:
    """Collect the fds of ``names`` (and ``stdin_socket``) for one spawn.

    so_reuseport sockets get a fresh socket for this process. With
    ``activation`` the sockets go to fds 3, 4, ... and the variables say so.

    Raises:
        ValueError: ``stdin_socket`` names no socket.
        OSError: a fresh so_reuseport socket cannot be bound.
    """
    plan = SpawnSockets()
    try:
        fds: list[int] = []
        listen: list[tuple[str, int]] = []
        for name in names:
            sock = sockets.get(name)
            if sock is None:
                continue
            fd = _fd_for(sock, plan)
            if activation:
                plan.variables[f"sockets.{name}"] = 3 + len(listen)
                listen.append((name, fd))
            else:
                plan.variables[f"sockets.{name}"] = fd
                fds.append(fd)
        if stdin_socket:
            sock = sockets.get(stdin_socket.lower())
            if sock is None:
                raise ValueError(f"stdin_socket {stdin_socket!r} names no [socket:...] section")
            plan.stdin_fd = _fd_for(sock, plan)
        plan.pass_fds = tuple(fds)
        plan.listen_fds = tuple(listen)
    except BaseException:
        plan.close()
        raise
    return plan


def _fd_for(sock: SocketLike, plan: SpawnSockets) -> int:
    if isinstance(sock, CircusSocket) and sock.so_reuseport:
        fresh = sock.fresh_reuseport()
        plan.fresh.append(fresh)
        return fresh.fileno()
    return sock.fileno()
