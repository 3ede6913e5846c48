"""Papa: a connection to the process kernel, one method per command.

Method names, arguments and return shapes are those of papa 1.0.6, so code
written for it runs unchanged. Each method sends one command line (see
``_wire`` for escaping) and turns an ``Error:`` reply into :class:`Error`.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import _autostart
from ._autostart import Endpoint
from ._names import family_name, rlimit_name, type_name
from ._watcher import Watcher
from ._wire import (
    Connection,
    ConnectionLost,
    Error,
    check,
    command_line,
    decode,
    option,
    parse_processes,
    parse_sockets,
    parse_values,
)

DEFAULT_PORT = 20202


@dataclass
class _Defaults:
    port: int = DEFAULT_PORT
    path: str | None = None
    connection_timeout: float = 10.0
    debug_mode: bool = False
    quit_when_connection_closed: bool = False


_defaults = _Defaults()

def _endpoint(port_or_path: int | str | os.PathLike[str] | None) -> Endpoint:
    if port_or_path is None:
        if _defaults.path is not None:
            return Endpoint(path=_defaults.path)
        return Endpoint(port=_defaults.port)
    if isinstance(port_or_path, int) and not isinstance(port_or_path, bool):
        return Endpoint(port=port_or_path)
    if isinstance(port_or_path, (str, os.PathLike)):
        path = os.fspath(port_or_path)
        if not os.path.isabs(path):
            raise Error(f"The path of papa's unix socket must be absolute, not {path!r}")
        return Endpoint(path=path)
    raise Error(f"port_or_path must be a port number or a unix socket path, not {port_or_path!r}")


def _only_entry(parsed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if len(parsed) != 1:
        raise Error(f"Expected one entry from papa, got {len(parsed)}")
    return next(iter(parsed.values()))


class Papa:
    """A connection to the papa kernel.

    Args:
        port_or_path: an int selects TCP 127.0.0.1:port, a str the unix socket
            at that absolute path; None uses :func:`set_default_port` /
            :func:`set_default_path` (port 20202 unless changed).
        connection_timeout: seconds to wait for the kernel, including starting
            one; None uses :func:`set_default_connection_timeout` (10 s).

    The constructor connects at once. If nothing listens, it starts a kernel
    (see the README's "Auto-start") and retries until the timeout.

    Raises:
        Error: ``Could not connect to Papa in N seconds``, or a bad endpoint.
    """

    def __init__(self, port_or_path: int | str | os.PathLike[str] | None = None,
                 connection_timeout: float | None = None) -> None:
        self._endpoint = _endpoint(port_or_path)
        self._timeout = (_defaults.connection_timeout if connection_timeout is None
                         else float(connection_timeout))
        self._debug = _defaults.debug_mode
        self._quit_on_close = self._debug and _defaults.quit_when_connection_closed
        self._lock = threading.RLock()
        self._watchers: set[Watcher] = set()
        self._closed = False
        self._connection: Connection | None = self._connect()

    # -- defaults (also module functions) ---------------------------------

    @classmethod
    def set_default_port(cls, port: int) -> None:
        """Make ``Papa()`` use TCP 127.0.0.1:*port* (this replaces a default path)."""
        _defaults.port = int(port)
        _defaults.path = None

    @classmethod
    def set_default_path(cls, path: str | os.PathLike[str] | None) -> None:
        """Make ``Papa()`` use the unix socket at absolute *path* (None: back to the port)."""
        if path is None:
            _defaults.path = None
            return
        _defaults.path = _endpoint(path).path

    @classmethod
    def set_default_connection_timeout(cls, connection_timeout: float) -> None:
        """Set how long ``Papa()`` waits for a kernel, in seconds (default 10)."""
        _defaults.connection_timeout = float(connection_timeout)

    @classmethod
    def set_debug_mode(cls, mode: bool = True, quit_when_connection_closed: bool = False) -> None:
        """Make auto-start run the kernel in the foreground, as a child, with ``-d`` logging.

        The debug kernel logs to this process's stderr and is stopped when this
        process exits. With *quit_when_connection_closed* it is also stopped as
        soon as the Papa object that started it is closed.
        """
        _defaults.debug_mode = bool(mode)
        _defaults.quit_when_connection_closed = bool(quit_when_connection_closed)

    # -- connection handling ----------------------------------------------

    def __enter__(self) -> Papa:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<papa.Papa {self._endpoint} {state}>"

    def _connect(self) -> Connection:
        return _autostart.connect(self._endpoint, self._timeout, debug=self._debug)

    def _take_connection(self) -> Connection:
        """Remove and return the command connection (reconnecting if a watcher has it)."""
        if self._closed:
            raise Error("This Papa object is closed")
        connection = self._connection if self._connection is not None else self._connect()
        self._connection = None
        return connection

    def _put_back(self, connection: Connection) -> None:
        connection.drop_fds()  # back in command mode: no descriptors come any more
        if self._connection is None and not self._closed:
            self._connection = connection
        else:
            connection.close()

    def _watcher_done(self, watcher: Watcher, connection: Connection | None) -> None:
        """Called by a watcher when it lets go of its connection (None if it closed it)."""
        with self._lock:
            self._watchers.discard(watcher)
            if connection is not None:
                self._put_back(connection)

    def _command(self, *words: str) -> str:
        with self._lock:
            connection = self._take_connection()
            try:
                connection.send(command_line(words))
                reply = decode(connection.read_until(b"\n> "))
            except ConnectionLost:
                connection.close()
                raise
            self._put_back(connection)
        return check(reply)

    def close(self) -> None:
        """Close the connection and every watcher still open. Idempotent.

        In debug mode with ``quit_when_connection_closed``, this also stops the
        debug kernel this process started.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.close()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        if self._quit_on_close:
            _autostart.debug_kernels.stop(self._endpoint)

    # -- sockets ------------------------------------------------------------

    def list_sockets(self, *args: str) -> dict[str, dict[str, Any]]:
        """Return ``{name: details}`` for the sockets matching *args* (names or ``prefix*``)."""
        return parse_sockets(self._command("l", "s", *args))

    def make_socket(self, name: str, host: str | None = None, port: int | None = None,
                    family: int | str | None = None, socket_type: int | str | None = None,
                    backlog: int | None = None, path: str | None = None,
                    umask: int | None = None, interface: str | None = None,
                    reuseport: bool | None = None) -> dict[str, Any]:
        """Create (or, with identical parameters, return) a listening socket kept by papa.

        *family* and *socket_type* take ``socket.AF_*`` / ``socket.SOCK_*``
        values (or their lowercase names without prefix). With *path* the socket
        is a unix socket and *host*, *port*, *interface* and *reuseport* are
        ignored; without it *umask* is ignored.

        Returns:
            The socket's details: family, type, backlog, host/port or path,
            fileno (ints for backlog, port and fileno).

        Raises:
            Error: a relative *path*, or the name exists with other parameters.
        """
        words = ["m", "s", name]
        if family is not None:
            words.append(option("family", family_name(family)))
        if socket_type is not None:
            words.append(option("type", type_name(socket_type)))
        if backlog is not None:
            words.append(option("backlog", backlog))
        if path:
            if not os.path.isabs(path):
                raise Error(f"A unix socket path must be absolute, not {path!r}")
            words.append(option("path", path))
            if umask is not None:
                words.append(option("umask", umask))
        else:
            if host:
                words.append(option("host", host))
            if port is not None:
                words.append(option("port", port))
            if interface:
                words.append(option("interface", interface))
            if reuseport:
                words.append(option("reuseport", 1))
        return _only_entry(parse_sockets(self._command(*words)))

    def remove_sockets(self, *args: str) -> bool:
        """Close the sockets matching *args*; processes keep the copies they inherited."""
        self._command("r", "s", *args)
        return True

    # -- values -------------------------------------------------------------

    def set(self, name: str, value: str | None = None) -> None:
        """Store *value* under *name*; None (or "") deletes it.

        The line protocol cannot carry newlines: they are stored as spaces.
        """
        words = ["set", name]
        if value is not None:
            words.append(str(value))
        self._command(*words)

    def get(self, name: str) -> str | None:
        """Return the value stored under *name*, or None."""
        return self._command("get", name) or None

    def list_values(self, *args: str) -> dict[str, str]:
        """Return ``{name: value}`` for the values matching *args*."""
        return parse_values(self._command("l", "v", *args))

    def remove_values(self, *args: str) -> bool:
        """Delete the values matching *args*; removing all of them (none given, or ``*``) fails."""
        self._command("r", "v", *args)
        return True

    # -- processes ----------------------------------------------------------

    def make_process(self, name: str, executable: str | None = None,
                     args: str | Sequence[str] | None = None,
                     env: Mapping[str, str] | None = None, working_dir: str | None = None,
                     uid: int | str | None = None, gid: int | str | None = None,
                     rlimits: Mapping[int | str, int] | None = None,
                     stdout: int | None = None, stderr: int | None = None,
                     bufsize: int | str | None = None,
                     watch_immediately: bool | None = None,
                     backpressure: bool | None = None,
                     handover: bool | None = None) -> Any:
        """Start a process in papa (or, with identical parameters, return the existing one).

        Args:
            name: unique name; it may not contain ``:`` (watch records use it
                as a separator).
            executable: the program; None takes it from ``args[0]``.
            args: the arguments, a sequence or a single string (one argument).
            env: the environment; pass ``os.environ`` to copy yours.
            working_dir, uid, gid: where and as whom it runs (names or ids).
            rlimits: ``{"nofile": 1024, ...}``, names without ``RLIMIT_`` (or
                ``resource.RLIMIT_*`` constants).
            stdout: :data:`PIPE` (default, captured) or :data:`DEVNULL`.
            stderr: :data:`PIPE` (default), :data:`DEVNULL` or :data:`STDOUT`.
            bufsize: bytes of output kept, an int or ``"2m"``-style string;
                0 captures nothing.
            watch_immediately: return a :class:`Watcher` instead of the details.
            backpressure: ours, not in papa 1.0.6 (whose kernel refuses it):
                while ``bufsize`` bytes wait for an acknowledgement, the kernel
                stops reading the process's output, so the process blocks on
                its full pipe instead of papa dropping the oldest output.
            handover: ours: the output goes through unix stream sockets
                instead of pipes, which ``watch_processes(handover=True)``
                can take over (papa 1.0.6's kernel refuses the key).

        Returns:
            ``{pid, running, started, args, ...}``, or a :class:`Watcher`.

        Raises:
            Error: a bad name or stream choice, or the kernel refused.
        """
        if ":" in name:
            raise Error(f"Process names cannot contain ':' ({name!r})")
        words = ["m", "p", name]
        for key, value in (("working_dir", working_dir), ("uid", uid), ("gid", gid),
                           ("bufsize", bufsize)):
            if value is not None and value != "":
                words.append(option(key, value))
        if watch_immediately:
            words.append("watch=1")
        if backpressure:
            words.append("backpressure=1")
        if handover:
            words.append("handover=1")
        if stdout == subprocess.DEVNULL:
            words.append("stdout=0")
        elif stdout not in (None, subprocess.PIPE):
            raise Error("stdout must be papa.PIPE or papa.DEVNULL")
        if stderr == subprocess.DEVNULL:
            words.append("stderr=0")
        elif stderr == subprocess.STDOUT:
            words.append("stderr=stdout")
        elif stderr not in (None, subprocess.PIPE):
            raise Error("stderr must be papa.PIPE, papa.DEVNULL or papa.STDOUT")
        for key, value in (env or {}).items():
            words.append(option(f"env.{key}", value))
        for limit, value in (rlimits or {}).items():
            words.append(option(f"rlimit.{rlimit_name(limit)}", value))
        arguments = [args] if isinstance(args, str) else [str(arg) for arg in args or ()]
        if executable:
            words.append(executable)
        words.extend(arguments)
        if not watch_immediately:
            return _only_entry(parse_processes(self._command(*words)))
        return self._start_watch(words, first_line_is_count=False)

    def list_processes(self, *args: str) -> dict[str, dict[str, Any]]:
        """Return ``{name: details}`` for the processes matching *args*."""
        return parse_processes(self._command("l", "p", *args))

    def remove_processes(self, *args: str) -> bool:
        """Tell papa nobody will read these processes' output: it is freed, and the
        entry goes away when the process exits (at once if it already has)."""
        self._command("r", "p", *args)
        return True

    def watch_processes(self, *args: str, handover: bool = False, keep: bool = False) -> Watcher:
        """Return a :class:`Watcher` for the output and exit of the processes matching *args*.

        The watcher takes this object's connection; the next command opens another.
        With ``handover`` (ours; a unix socket kernel only), the output sockets
        of ``handover=1`` processes are handed to the watcher
        (:attr:`Watcher.handovers`) instead of being relayed as records.
        With ``keep`` (ours) the watch does not end when its processes are gone,
        and :meth:`Watcher.add` adds processes made later.
        """
        options = [*(("handover=1",) if handover else ()), *(("keep=1",) if keep else ())]
        words = ["w", "p", *options, *args]
        return self._start_watch(words, first_line_is_count=True, handover=handover)

    def _start_watch(self, words: list[str], first_line_is_count: bool,
                     handover: bool = False) -> Watcher:
        with self._lock:
            connection = self._take_connection()
            try:
                if handover:
                    connection.fds = []
                connection.send(command_line(words))
                line = decode(connection.read_until(b"\n"))
                if line.startswith("Error:"):
                    connection.read_exactly(2)  # the "> " prompt
                    self._put_back(connection)
                    check(line)
                count = int(line.split()[1]) if first_line_is_count else 1
            except ConnectionLost:
                connection.close()
                raise
            watcher = Watcher(connection, self, count)
            self._watchers.add(watcher)
        return watcher

    # -- kernel -------------------------------------------------------------

    def version(self) -> dict[str, str]:
        """Return the kernel's ``version`` reply as ``{"version", "protocol", "python"}``.

        An extension of this kernel: papa 1.0.6 has no such command.

        Raises:
            Error: the kernel does not know the command (papa 1.0.6 replies
                ``Unknown command``).
        """
        reply = self._command("version")
        return dict(word.partition("=")[::2] for word in reply.split() if "=" in word)


    def exit_if_idle(self) -> bool:
        """Ask the kernel to exit once idle (no processes, sockets or values).

        Returns:
            True if it will exit when its last client leaves; this object's
            connection is then closed (the next command starts a new kernel).
        """
        exiting = self._command("exit-if-idle").startswith("Exiting")
        if exiting:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None
        return exiting


def set_default_port(port: int) -> None:
    """Make ``Papa()`` use TCP 127.0.0.1:*port* (this replaces a default path)."""
    Papa.set_default_port(port)


def set_default_path(path: str | os.PathLike[str] | None) -> None:
    """Make ``Papa()`` use the unix socket at absolute *path* (None: back to the port)."""
    Papa.set_default_path(path)


def set_default_connection_timeout(connection_timeout: float) -> None:
    """Set how long ``Papa()`` waits for a kernel, in seconds (default 10)."""
    Papa.set_default_connection_timeout(connection_timeout)


def set_debug_mode(mode: bool = True, quit_when_connection_closed: bool = False) -> None:
    """Make auto-start run the kernel as a foreground child with ``-d`` logging.

    See :meth:`Papa.set_debug_mode`.
    """
    Papa.set_debug_mode(mode, quit_when_connection_closed)
