"""The wire vocabulary every Circus package shares: endpoints, human formats, errnos.

One home for the facts that circusd, ``circusctl``, ``circusd-stats``,
``circus-top``, the plugins and the web console must agree on:

* the default endpoints (upstream's ports 5555, 5556 and 5557);
* what a ZeroMQ endpoint looks like (:func:`parse_endpoint`);
* the human strings of ``stats`` replies and the stats channel
  (:func:`cpu_clock`, :func:`human_bytes`), in upstream Circus 0.19's format;
* the error numbers of an error reply.

It imports only the standard library, so a tool may use it without paying
for pyzmq. circus-core cannot depend on this package (it installs alone); it
keeps one private copy, held equal to this module by
``integration-tests/test_wire_contract.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
"""circusd's control endpoint (ROUTER), where commands go."""

DEFAULT_PUBSUB = "tcp://127.0.0.1:5556"
"""circusd's event endpoint (PUB): spawn, reap, kill, stop..."""

DEFAULT_STATS_ENDPOINT = "tcp://127.0.0.1:5557"
"""circusd-stats's endpoint (PUB), read by circus-top."""

CONTROL_SCHEMES = ("tcp", "ipc")
"""The transports circusd binds its control and event endpoints on."""

ZMQ_SCHEMES = ("tcp", "ipc", "inproc", "pgm", "epgm", "vmci")
"""Every transport ZeroMQ names; only ``tcp`` and ``ipc`` have their address checked."""

# Error numbers of an error reply ({"status": "error", "errno": N, "reason": ...}).
NOT_SPECIFIED = 0
"""An error reply without a more precise number."""
INVALID_JSON = 1
"""The request was not valid JSON."""
UNKNOWN_COMMAND = 2
"""The request named a command that does not exist."""
MESSAGE_ERROR = 3
"""A property is missing, of the wrong type, or names nothing (an unknown watcher)."""
OS_ERROR = 4
"""An operating-system call failed while carrying out the command."""
COMMAND_ERROR = 5
"""A well-formed command could not be carried out (a conflict, a bad config)."""
BAD_MSG_DATA_ERROR = 6
"""The daemon failed while handling an otherwise valid request."""

ERRNO_NAMES: dict[int, str] = {
    NOT_SPECIFIED: "NOT_SPECIFIED",
    INVALID_JSON: "INVALID_JSON",
    UNKNOWN_COMMAND: "UNKNOWN_COMMAND",
    MESSAGE_ERROR: "MESSAGE_ERROR",
    OS_ERROR: "OS_ERROR",
    COMMAND_ERROR: "COMMAND_ERROR",
    BAD_MSG_DATA_ERROR: "BAD_MSG_DATA_ERROR",
}
"""Each wire error number and its name, as upstream's ``circus.errors`` spells it."""


class EndpointError(ValueError):
    """An endpoint that cannot be used; the message is one line naming it and the fix."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed ZeroMQ endpoint.

    Attributes:
        text: the endpoint exactly as given.
        scheme: the transport, lower case (``"tcp"``, ``"ipc"``...).
        host: for ``tcp`` and ``udp``, the host without IPv6 brackets; it may be
            ``*``, an interface name or ZeroMQ's ``source;host`` form. ``None`` otherwise.
        port: for ``tcp`` and ``udp``, the port (1-65535); ``None`` otherwise.
        address: everything after ``scheme://`` (the path of an ``ipc`` endpoint).
    """

    text: str
    scheme: str
    host: str | None
    port: int | None
    address: str


# Transports whose address is HOST:PORT (udp is ZeroMQ's RADIO/DISH and multicast).
_HOST_PORT = ("tcp", "udp")


def _expected(schemes: tuple[str, ...]) -> str:
    forms = {"tcp": "tcp://HOST:PORT", "udp": "udp://HOST:PORT", "ipc": "ipc://PATH"}
    named = [forms[scheme] for scheme in schemes if scheme in forms]
    others = [scheme for scheme in schemes if scheme not in forms]
    if others:
        named.append(f"another ZeroMQ transport ({', '.join(others)})")
    return " or ".join(named)


def parse_endpoint(text: str, schemes: tuple[str, ...] = CONTROL_SCHEMES) -> Endpoint:
    """Parse a ZeroMQ endpoint such as ``tcp://127.0.0.1:5555`` or ``ipc:///run/c.sock``.

    Args:
        text: the endpoint.
        schemes: the transports accepted (lower case).

    Returns:
        The parsed :class:`Endpoint`.

    Raises:
        EndpointError: the text is not an endpoint of one of ``schemes``: no
            ``scheme://``, another scheme, an empty address, a ``tcp`` or
            ``udp`` address without ``HOST:PORT`` or with whitespace, or a port
            outside 1-65535.
    """
    scheme, sep, address = text.partition("://")
    scheme = scheme.lower()
    if not sep or not address or scheme not in schemes:
        raise EndpointError(f"invalid endpoint {text!r}: this is not a ZeroMQ endpoint; "
                            f"expected {_expected(schemes)}")
    if scheme not in _HOST_PORT:
        return Endpoint(text, scheme, None, None, address)
    host, colon, port_text = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or any(c.isspace() for c in host):
        raise EndpointError(f"invalid endpoint {text!r}: expected {scheme}://HOST:PORT "
                            "with a numeric port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise EndpointError(f"invalid endpoint {text!r}: port {port_text} is out of range "
                            "(1-65535)")
    return Endpoint(text, scheme, host, port, address)


def cpu_clock(seconds: float) -> str:
    """CPU time the way ``stats`` replies carry it in ``ctime``: ``m:ss.cc``.

    Minutes, two-digit seconds, then hundredths. Hundredths are truncated, as
    upstream's are (59.999 s is ``0:59.99``: the clock never shows 60 seconds
    and never claims time not yet used). Unlike upstream, minutes do not wrap
    at the hour, and the hundredths are always two digits.

    Args:
        seconds: CPU seconds, 0 or more.
    """
    # Round to microseconds first, as upstream's timedelta does, so that a
    # float such as 0.29 (0.28999...) is still 29 hundredths.
    centis = max(0, round(seconds * 1_000_000)) // 10_000
    minutes, centis = divmod(centis, 6000)
    return f"{minutes}:{centis // 100:02d}.{centis % 100:02d}"


_MULTIPLES = "KMGTPEZY"


def human_bytes(count: int) -> str:
    """A byte count as upstream prints memory: ``512B``, ``1.50K``, ``25.34M``... up to ``Y``.

    Binary multiples, two decimals, the largest multiple the count reaches
    (so 1048575 is ``1024.00K``, as upstream prints it).

    Args:
        count: bytes, 0 or more.
    """
    for power in range(len(_MULTIPLES), 0, -1):
        step = 1 << (10 * power)
        if count >= step:
            return f"{count / step:.2f}{_MULTIPLES[power - 1]}"
    return f"{count}B"
