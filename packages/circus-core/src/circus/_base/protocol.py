"""The wire vocabulary circusd shares with its clients: endpoints and human formats.

circus-core installs alone, so it cannot use ``circus.client.protocol`` (in
circus-ctl), the public home of these facts. This module is core's one copy:
the default endpoints, what a ZeroMQ endpoint looks like, and the strings of
``stats`` replies in upstream Circus 0.19's format. The error numbers live
with the exception tree in :mod:`circus.errors`.
``integration-tests/test_wire_contract.py``, where every package is
installed, holds this copy equal to the client's: change both together.
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
