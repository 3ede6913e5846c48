"""The papa line protocol as the client sees it: escaping, reply parsing, buffered reads.

The kernel splits a command line on single spaces and joins a token that ends
in a backslash to the next one, so ``\\ `` is the only way to put a space inside
an argument. A line cannot carry a newline, so newlines (``\\n`` and ``\\r``)
inside an argument are sent as spaces, as papa 1.0.6 did. An empty argument
cannot be sent at all and is dropped. An option value that ends in a backslash
is wrapped in double quotes, which the kernel strips, so that it does not
swallow the next token.

Reply lines are ``NAME key=value ...`` with ``args=`` last. The value types
follow papa 1.0.6 exactly, because existing callers depend on them: for sockets
``backlog``, ``port`` and ``fileno`` are ints; for processes ``pid`` is an int,
``started`` a float and ``running``/``shell`` are bools; anything else stays a
string.
"""

from __future__ import annotations

import array
import os
import socket
from collections.abc import Iterable
from typing import Any

PROMPT = b"\n> "
"""What ends every command reply (and the banner)."""

BANNER_PREFIX = b"Papa is home."
ERROR_PREFIX = "Error:"

_RECV_SIZE = 65536
# Room for the descriptors of one handover (stdout and stderr) and more.
_FDS_SPACE = socket.CMSG_SPACE(16 * 4)

_SOCKET_INT_KEYS = frozenset({"backlog", "port", "fileno"})
_PROCESS_INT_KEYS = frozenset({"pid"})
_PROCESS_FLOAT_KEYS = frozenset({"started"})
_PROCESS_BOOL_KEYS = frozenset({"running", "shell"})


class Error(RuntimeError):
    """A papa failure: the kernel answered ``Error: ...``, or it could not be reached.

    ``str(error)`` is the kernel's message without the ``Error: `` prefix, or a
    message of the client's own (for instance ``Could not connect to Papa in 10
    seconds``).
    """


class ConnectionLost(Error):
    """The connection to the kernel broke; the caller should drop it and reconnect."""


def escape(arg: str) -> str:
    """Return *arg* as one command-line token: spaces escaped, newlines sent as spaces."""
    flat = arg.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return flat.replace(" ", "\\ ")


def option(key: str, value: object) -> str:
    """Return the unescaped ``key=value`` token for an option.

    An empty value is sent as ``""``: the kernel strips the quotes, whereas a
    bare ``key=`` crashes papa 1.0.6's option parser.
    """
    text = str(value)
    if text == "" or text.endswith("\\"):
        text = f'"{text}"'
    return f"{key}={text}"


def command_line(words: Iterable[str]) -> bytes:
    """Encode one command: escaped non-empty words joined by spaces, ending in a newline."""
    return (" ".join(escape(word) for word in words if word) + "\n").encode("utf-8")


def _fields(tokens: list[str]) -> dict[str, str]:
    """Split ``key=value`` tokens; everything after ``args=`` belongs to args.

    A token without ``=`` (before ``args=``) continues the previous value, as
    with a path that contains a space.
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for index, token in enumerate(tokens):
        key, sep, value = token.partition("=")
        if sep and key == "args":
            fields["args"] = " ".join([value, *tokens[index + 1 :]])
            break
        if sep:
            fields[key] = value
            last = key
        elif last is not None:
            fields[last] += " " + token
    return fields


def _convert(fields: dict[str, str], ints: frozenset[str], floats: frozenset[str] = frozenset(),
             bools: frozenset[str] = frozenset()) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in fields.items():
        try:
            if key in ints:
                result[key] = int(value)
            elif key in floats:
                result[key] = float(value)
            elif key in bools:
                result[key] = value == "True"
            else:
                result[key] = value
        except ValueError:
            result[key] = value
    return result


def _entries(text: str) -> Iterable[tuple[str, list[str]]]:
    for line in text.splitlines():
        tokens = [token for token in line.split(" ") if token]
        if tokens:
            yield tokens[0], tokens[1:]


def parse_sockets(text: str) -> dict[str, dict[str, Any]]:
    """Parse socket reply lines into ``{name: {family, type, backlog, ...}}``."""
    return {name: _convert(_fields(rest), _SOCKET_INT_KEYS) for name, rest in _entries(text)}


def parse_processes(text: str) -> dict[str, dict[str, Any]]:
    """Parse process reply lines into ``{name: {pid, running, started, ..., args}}``."""
    return {
        name: _convert(_fields(rest), _PROCESS_INT_KEYS, _PROCESS_FLOAT_KEYS, _PROCESS_BOOL_KEYS)
        for name, rest in _entries(text)
    }


def parse_values(text: str) -> dict[str, str]:
    """Parse ``NAME VALUE`` lines into ``{name: value}``."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name:
            values[name] = value
    return values


def decode(data: bytes) -> str:
    """Decode kernel text; undecodable bytes are kept as surrogates, never lost."""
    return data.decode("utf-8", "surrogateescape")


class Connection:
    """A connected kernel socket plus the bytes received but not consumed yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        # Set while watching with handover: descriptors received, in order.
        self.fds: list[int] | None = None

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket; buffered bytes and unclaimed descriptors are discarded."""
        self.buffer.clear()
        self.drop_fds()
        self.sock.close()

    def drop_fds(self) -> None:
        """Close unclaimed descriptors and stop collecting them."""
        for fd in self.fds or ():
            os.close(fd)
        self.fds = None

    def send(self, data: bytes) -> None:
        """Send all of *data*; a dead kernel raises :class:`Error`."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ConnectionLost(f"Lost the connection to papa: {exc}") from exc

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(_RECV_SIZE) if self.fds is None else self._receive_with_fds()
        except OSError as exc:
            raise ConnectionLost(f"Lost the connection to papa: {exc}") from exc
        if not chunk:
            raise ConnectionLost("Papa closed the connection")
        self.buffer += chunk

    def _receive_with_fds(self) -> bytes:
        chunk, ancillary, _, _ = self.sock.recvmsg(_RECV_SIZE, _FDS_SPACE)
        assert self.fds is not None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                self.fds.extend(fds)
        return chunk

    def take_fds(self, count: int) -> list[int]:
        """Claim the next *count* received descriptors (the caller owns them)."""
        if self.fds is None or len(self.fds) < count:
            raise Error("papa announced descriptors it did not send")
        taken, self.fds[:count] = self.fds[:count], []
        return taken

    def read_until(self, terminator: bytes) -> bytes:
        """Consume and return everything up to *terminator*, which is consumed but not returned."""
        start = 0
        while True:
            index = self.buffer.find(terminator, start)
            if index >= 0:
                data = bytes(self.buffer[:index])
                del self.buffer[: index + len(terminator)]
                return data
            start = max(0, len(self.buffer) - len(terminator) + 1)
            self._fill()

    def read_exactly(self, size: int) -> bytes:
        """Consume and return exactly *size* bytes."""
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def peek(self, size: int) -> bytes:
        """Return the next *size* bytes without consuming them."""
        while len(self.buffer) < size:
            self._fill()
        return bytes(self.buffer[:size])

    def read_reply(self) -> str:
        """Read one command reply; raise :class:`Error` for an ``Error:`` reply."""
        return check(decode(self.read_until(PROMPT)))


def check(text: str) -> str:
    """Return reply *text*, or raise :class:`Error` with its message if it is an error."""
    if text.startswith(ERROR_PREFIX):
        raise Error(text[len(ERROR_PREFIX) :].strip())
    return text
