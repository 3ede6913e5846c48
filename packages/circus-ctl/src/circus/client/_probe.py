"""A quick look at an endpoint before waiting on ZMQ.

ZMQ's ``connect`` never fails: a DEALER pointed at nothing just queues the
request, and the user waits the whole timeout to learn that circusd is not
running. A plain socket connect to the same address answers in microseconds
(ECONNREFUSED, ENOENT, EACCES), so we try that first and name the real problem.
Anything we cannot judge (a remote host that does not answer fast, an interface
name) is left to ZMQ.
"""

from __future__ import annotations

import errno
import socket

from circus.client._errors import ConnectionFailed
from circus.client.protocol import CONTROL_SCHEMES, ZMQ_SCHEMES, EndpointError, parse_endpoint

# A remote host that neither accepts nor refuses this fast is left to ZMQ.
_TCP_PROBE_SECONDS = 0.5

_START_HINT = "is circusd running? start it, or check --endpoint / CIRCUSCTL_ENDPOINT"


def probe(endpoint: str) -> None:
    """Raise :class:`ConnectionFailed` if ``endpoint`` surely has nothing listening."""
    # circusd binds tcp and ipc; another ZeroMQ transport is left to ZMQ to judge,
    # and anything else is described as the tcp/ipc endpoint it should be.
    scheme = endpoint.partition("://")[0].lower()
    try:
        parsed = parse_endpoint(endpoint, ZMQ_SCHEMES if scheme in ZMQ_SCHEMES else CONTROL_SCHEMES)
    except EndpointError as exc:
        raise ConnectionFailed(endpoint, "invalid", str(exc)) from None
    if parsed.scheme == "tcp" and parsed.host is not None and parsed.port is not None:
        _probe_tcp(endpoint, parsed.host, parsed.port)
    elif parsed.scheme == "ipc":
        _probe_ipc(endpoint, parsed.address)


def _probe_tcp(endpoint: str, host: str, port: int) -> None:
    if ";" in host or host == "*":
        return  # a source-interface or wildcard spec: only ZMQ understands it
    try:
        with socket.create_connection((host, port), timeout=_TCP_PROBE_SECONDS):
            pass
    except ConnectionRefusedError:
        raise ConnectionFailed(
            endpoint, "refused", f"cannot reach circusd at {endpoint}: connection refused "
            f"(nothing is listening there); {_START_HINT}",
        ) from None
    except socket.gaierror as exc:
        raise ConnectionFailed(
            endpoint, "invalid", f"cannot reach circusd at {endpoint}: unknown host "
            f"{host!r} ({exc.strerror}); check --endpoint / CIRCUSCTL_ENDPOINT",
        ) from None
    except OSError:
        return  # slow or filtered: let ZMQ and the timeout decide


def _probe_ipc(endpoint: str, path: str) -> None:
    if path.startswith("@"):
        return  # Linux abstract namespace: no file to look at
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except FileNotFoundError:
        raise ConnectionFailed(
            endpoint, "missing", f"cannot reach circusd at {endpoint}: the socket file "
            f"{path} does not exist; {_START_HINT}",
        ) from None
    except ConnectionRefusedError:
        raise ConnectionFailed(
            endpoint, "refused", f"cannot reach circusd at {endpoint}: connection refused "
            f"(a stale socket file, nothing is listening); {_START_HINT}",
        ) from None
    except PermissionError:
        raise ConnectionFailed(
            endpoint, "permission", f"cannot reach circusd at {endpoint}: permission denied "
            f"on {path}; run as the endpoint_owner user (or root), or fix the file's "
            "permissions",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOTSOCK or exc.errno == errno.ENOTDIR:
            raise ConnectionFailed(
                endpoint, "invalid", f"cannot reach circusd at {endpoint}: {path} is not a "
                "socket; check --endpoint / CIRCUSCTL_ENDPOINT",
            ) from None
        return
    finally:
        sock.close()
