"""Socket family/type and rlimit names as the wire protocol spells them.

The client accepts what papa 1.0.6 accepted (``socket.AF_INET``, ``"inet"``,
``"nofile"``) and also ``resource.RLIMIT_*`` constants, which 1.0.6 crashed on.
"""

from __future__ import annotations

import resource
import socket

from ._wire import Error

# rlimits may be given by name ("nofile", "RLIMIT_NOFILE") or by resource constant.
_RLIMIT_NAMES = {
    getattr(resource, attr): attr[len("RLIMIT_") :].lower()
    for attr in dir(resource)
    if attr.startswith("RLIMIT_")
}


def family_name(family: int | str) -> str:
    """``socket.AF_INET6`` or ``"inet6"`` -> ``"inet6"``."""
    if isinstance(family, str):
        return family
    try:
        return socket.AddressFamily(family).name[len("AF_") :].lower()
    except ValueError:
        raise Error(f"Unknown socket family {family!r}") from None


def type_name(socket_type: int | str) -> str:
    """``socket.SOCK_DGRAM`` or ``"dgram"`` -> ``"dgram"``."""
    if isinstance(socket_type, str):
        return socket_type
    try:
        return socket.SocketKind(socket_type).name[len("SOCK_") :].lower()
    except ValueError:
        raise Error(f"Unknown socket type {socket_type!r}") from None


def rlimit_name(key: int | str) -> str:
    """``resource.RLIMIT_NOFILE``, ``"RLIMIT_NOFILE"`` or ``"nofile"`` -> ``"nofile"``."""
    if isinstance(key, int):
        if key not in _RLIMIT_NAMES:
            raise Error(f"Unknown rlimit {key!r}")
        return _RLIMIT_NAMES[key]
    name = key.lower()
    return name[len("rlimit_") :] if name.startswith("rlimit_") else name
