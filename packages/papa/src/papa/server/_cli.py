"""The ``papa`` command line: options, the control socket and daemonizing.

``--daemonize`` forks twice so the kernel is not a session leader and can never
regain a terminal, and the first process returns only after the kernel listens:
the kernel reports readiness (or the error that stopped it) through a pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._loop import Server
from ._version import PROTOCOL_VERSION, __version__

DEFAULT_PORT = 20202
# Papa 1.0.6 used listen(5); many clients starting at once need more.
CONTROL_BACKLOG = 128
READY = b"ready"


class StartupError(Exception):
    """The kernel cannot listen where it was asked to."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="papa",
        description="Papa process kernel: keeps sockets, processes and values "
        "alive while their manager restarts.",
    )
    parser.add_argument("-d", "--debug", action="store_true", help="log at INFO level")
    parser.add_argument(
        "-u", "--unix-socket", metavar="PATH", help="listen on a unix socket (wins over -p)"
    )
    parser.add_argument(
        "-p", "--port", type=int, default=DEFAULT_PORT,
        help=f"listen on 127.0.0.1:PORT (default {DEFAULT_PORT})",
    )  # fmt: skip
    parser.add_argument(
        "--daemonize", action="store_true", help="detach, returning once the kernel listens"
    )
    parser.add_argument(
        "--version", action="version",
        version=f"papa {__version__} (protocol of papa {PROTOCOL_VERSION})",
    )  # fmt: skip
    return parser.parse_args(argv)


def listen(path: str | None, port: int) -> socket.socket:
    """Open the control socket: a unix path, else TCP on 127.0.0.1 only."""
    if path is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(CONTROL_BACKLOG)
        except OSError as exc:
            sock.close()
            raise StartupError(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
        return sock
    _claim_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(CONTROL_BACKLOG)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {path}: {exc}") from exc
    return sock


def _claim_path(path: str) -> None:
    """Remove a stale socket file, but never steal the path of a live kernel."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise StartupError(f"cannot use {path}: {exc}") from exc
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise StartupError(f"cannot listen on {path}: another papa is already listening")


def _set_title(path: str | None, port: int) -> None:
    """Retitle the daemon for ps and top, naming where it listens."""
    try:
        import setproctitle  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    try:
        with open(f"/proc/{os.getppid()}/comm") as comm:
            parent = comm.read().strip()
    except OSError:
        parent = os.path.basename(sys.argv[0])
    where = path if path is not None else f"127.0.0.1:{port}"
    setproctitle.setproctitle(f"papa daemon from {parent} on {where}")


def _daemonize(path: str | None, port: int) -> int:
    """Start the kernel detached; return 0 once it listens, 1 if it cannot."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _run_daemon(path, port, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    os.waitpid(child, 0)
    if report == READY:
        return 0
    sys.stderr.write(report.decode(errors="replace") or "papa: the kernel failed to start\n")
    return 1


def _run_daemon(path: str | None, port: int, ready_fd: int) -> NoReturn:
    """In the first child: fork the kernel off, report through ``ready_fd``."""
    status = 1
    try:
        status = _daemon_body(path, port, ready_fd)
    except BaseException:
        logging.getLogger("papa.server").exception("kernel failed")
    finally:
        # Never return into the caller's stack from a forked child.
        os._exit(status)


def _daemon_body(path: str | None, port: int, ready_fd: int) -> int:
    # A new session, then a second fork so the kernel is no session leader.
    os.setsid()
    if os.fork():
        return 0
    os.chdir("/")
    os.umask(0o027)
    os.closerange(3, ready_fd)
    with contextlib.suppress(OSError, ValueError):
        os.closerange(ready_fd + 1, os.sysconf("SC_OPEN_MAX"))
    _set_title(path, port)
    try:
        listener = listen(path, port)
    except StartupError as exc:
        os.write(ready_fd, f"papa: {exc}\n".encode())
        return 1
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    server = Server(listener, path)
    os.write(ready_fd, READY)
    os.close(ready_fd)
    server.serve_forever()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the kernel; see ``papa --help``."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.debug else logging.ERROR,
        format="papa[%(process)d] %(levelname)s %(message)s",
    )
    path = os.path.abspath(args.unix_socket) if args.unix_socket else None
    if args.daemonize:
        return _daemonize(path, args.port)
    try:
        listener = listen(path, args.port)
    except StartupError as exc:
        sys.stderr.write(f"papa: {exc}\n")
        return 1
    Server(listener, path).serve_forever()
    return 0
