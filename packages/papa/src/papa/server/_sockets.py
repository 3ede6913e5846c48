"""Named sockets that papa creates and keeps open for its processes.

Differences from papa 1.0.6, all invisible to its client: datagram sockets are
bound without ``listen()``, ``interface=`` uses SO_BINDTODEVICE, and papa's own
descriptors are not inheritable -- a process receives only the sockets its
arguments reference (see ``_spawn``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from dataclasses import dataclass, replace

from ._errors import CommandError
from ._lexer import parse_flag, parse_int

FAMILIES = {"unix": socket.AF_UNIX, "inet": socket.AF_INET, "inet6": socket.AF_INET6}
TYPES = {
    "stream": socket.SOCK_STREAM,
    "dgram": socket.SOCK_DGRAM,
    "raw": socket.SOCK_RAW,
    "rdm": socket.SOCK_RDM,
    "seqpacket": socket.SOCK_SEQPACKET,
}
# Only connection-oriented types can listen(); the others are just bound.
LISTENING_TYPES = {"stream", "seqpacket"}
KEYS = ("family", "type", "backlog", "path", "umask", "host", "port", "interface", "reuseport")


@dataclass(frozen=True)
class SocketSpec:
    """What a ``make socket`` asked for, with the defaults filled in."""

    family: str = "inet"
    type: str = "stream"
    backlog: int = 5
    path: str | None = None
    umask: int | None = None
    host: str | None = None
    port: int = 0
    interface: str | None = None
    reuseport: bool = False


def parse_socket_spec(options: dict[str, str]) -> SocketSpec:
    """Validate ``make socket`` options and apply papa's defaults."""
    for key in options:
        if key not in KEYS:
            raise CommandError(f'Unknown socket option "{key}"')
    path = options.get("path")
    family = options.get("family", "unix" if path else "inet").lower()
    kind = options.get("type", "stream").lower()
    if family not in FAMILIES:
        raise CommandError(f'Unknown socket family "{family}"')
    if kind not in TYPES:
        raise CommandError(f'Unknown socket type "{kind}"')
    umask = parse_int("umask", options["umask"]) if "umask" in options else None
    spec = SocketSpec(
        family=family,
        type=kind,
        backlog=parse_int("backlog", options.get("backlog", "5")),
        path=path,
        umask=umask,
        interface=options.get("interface"),
        reuseport=parse_flag("reuseport", options.get("reuseport", "0")),
    )
    if family == "unix":
        if not path:
            raise CommandError("Unix sockets require a path")
        if not path.startswith("/"):
            raise CommandError("Absolute path required for Unix sockets")
        if "host" in options or "port" in options:
            raise CommandError("Unix sockets take a path, not a host or port")
        if spec.reuseport:
            raise CommandError("reuseport is only valid for inet and inet6 sockets")
        return spec
    if path:
        raise CommandError(f"A path is only valid for unix sockets, not {family}")
    if family == "inet6":
        default_host = "::" if spec.interface else "::1"
    else:
        default_host = "0.0.0.0" if spec.interface else "127.0.0.1"
    port = parse_int("port", options.get("port", "0"))
    if not 0 <= port <= 65535:
        raise CommandError(f"Bad port {port}")
    return replace(spec, host=options.get("host", default_host), port=port)


def unlink_stale_socket(path: str) -> None:
    """Remove a leftover unix socket file; refuse to remove anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise CommandError(f"{path} exists and is not a socket")
    os.unlink(path)


class PapaSocket:
    """One named socket, bound (and listening when its type allows)."""

    def __init__(self, name: str, spec: SocketSpec) -> None:
        self.name = name
        self.spec = spec
        self.port = spec.port
        self._inode: tuple[int, int] | None = None
        self.sock: socket.socket | None = self._open(spec.port)
        if spec.reuseport:
            # Like papa: the port is reserved only while we learn it, and each
            # process gets its own SO_REUSEPORT socket on that address.
            self.sock.close()
            self.sock = None

    def _open(self, port: int) -> socket.socket:
        spec = self.spec
        sock = socket.socket(FAMILIES[spec.family], TYPES[spec.type])
        try:
            if spec.family == "unix":
                assert spec.path is not None
                unlink_stale_socket(spec.path)
                old_umask = os.umask(spec.umask) if spec.umask is not None else None
                try:
                    sock.bind(spec.path)
                finally:
                    if old_umask is not None:
                        os.umask(old_umask)
                st = os.stat(spec.path)
                self._inode = (st.st_dev, st.st_ino)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if spec.reuseport:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if spec.interface:
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_BINDTODEVICE, spec.interface.encode()
                    )
                sock.bind((spec.host, port))
                self.port = sock.getsockname()[1]
            if spec.type in LISTENING_TYPES:
                sock.listen(spec.backlog)
        except BaseException:
            sock.close()
            raise
        return sock

    def fresh_reuseport_socket(self) -> socket.socket:
        """Open another socket on the same address for one process."""
        return self._open(self.port)

    def fileno(self) -> int | None:
        """Papa's descriptor number, or None for a reuseport socket."""
        return self.sock.fileno() if self.sock is not None else None

    def matches(self, spec: SocketSpec) -> bool:
        """Tell whether a repeated ``make socket`` asks for this same socket."""
        same_port = spec.port == 0 or spec.port in (self.spec.port, self.port)
        return same_port and replace(spec, port=self.spec.port) == self.spec

    def line(self) -> str:
        """The listing line: ``NAME family=.. type=.. backlog=.. [..] [fileno=..]``."""
        spec = self.spec
        parts = [self.name, f"family={spec.family}", f"type={spec.type}", f"backlog={spec.backlog}"]
        if spec.path is not None:
            parts.append(f"path={spec.path}")
        if spec.umask is not None:
            parts.append(f"umask={spec.umask}")
        if spec.family != "unix":
            parts += [f"host={spec.host}", f"port={self.port}"]
        if spec.interface:
            parts.append(f"interface={spec.interface}")
        if spec.reuseport:
            parts.append("reuseport=1")
        fileno = self.fileno()
        if fileno is not None:
            parts.append(f"fileno={fileno}")
        return " ".join(parts)

    def close(self) -> None:
        """Close the socket and remove its unix path if it is still ours."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.spec.path and self._inode is not None:
            with contextlib.suppress(OSError):
                st = os.stat(self.spec.path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.spec.path)
            self._inode = None
