"""Every ``[socket:NAME]`` option, observed on a really bound socket."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from circus.errors import CircusError
from circus.sockets import CircusSocket, build_sockets


@pytest.fixture
def bound() -> Iterator[list[CircusSocket]]:
    """Sockets to close at the end of the test."""
    made: list[CircusSocket] = []
    yield made
    for sock in made:
        sock.close()


def _bind(made: list[CircusSocket], **options: object) -> CircusSocket:
    sock = CircusSocket.load_from_config({"name": "s", **options})
    made.append(sock)
    sock.bind_and_listen()
    return sock


def _listening(sock: CircusSocket) -> bool:
    raw = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        return bool(raw.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    finally:
        raw.close()


def test_port_zero_reports_the_real_port(bound: list[CircusSocket]) -> None:
    sock = _bind(bound, host="127.0.0.1", port=0, backlog=7)
    assert sock.port > 0 and sock.host == "127.0.0.1"
    assert _listening(sock)
    with socket.create_connection(("127.0.0.1", sock.port), timeout=5):
        pass


def test_ipv6_on_loopback(bound: list[CircusSocket]) -> None:
    sock = _bind(bound, host="::1", port=0, family="AF_INET6")
    assert sock.sock is not None and sock.sock.family == socket.AF_INET6
    assert sock.host == "::1" and sock.port > 0
    with socket.create_connection(("::1", sock.port), timeout=5):
        pass


def test_unix_path_umask_and_cleanup(bound: list[CircusSocket], tmp_path: Path) -> None:
    path = tmp_path / "web.sock"
    sock = _bind(bound, path=str(path), umask=0o077)
    assert sock.sock is not None and sock.sock.family == socket.AF_UNIX
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    sock.close()
    assert not path.exists()


def test_replace_removes_only_a_stale_socket(
    bound: list[CircusSocket], tmp_path: Path
) -> None:
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays behind, as after a crashed daemon
    with pytest.raises(CircusError, match="replace = true"):
        _bind(bound, path=str(path))
    sock = _bind(bound, path=str(path), replace=True)
    assert sock.fileno() >= 0


def test_replace_refuses_a_live_socket_and_a_plain_file(
    bound: list[CircusSocket], tmp_path: Path
) -> None:
    live_path = tmp_path / "live.sock"
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(live_path))
    live.listen()
    try:
        with pytest.raises(CircusError, match="live socket"):
            _bind(bound, path=str(live_path), replace=True)
    finally:
        live.close()
    plain = tmp_path / "plain"
    plain.write_text("data")
    with pytest.raises(CircusError, match="not a socket"):
        _bind(bound, path=str(plain), replace=True)
    assert plain.read_text() == "data"


def test_udp_is_bound_but_never_listened(bound: list[CircusSocket]) -> None:
    sock = _bind(bound, host="127.0.0.1", port=0, type="SOCK_DGRAM")
    assert sock.port > 0 and not _listening(sock)
    local_ports = {int(line.split()[1].split(":")[1], 16)
                   for line in Path("/proc/net/udp").read_text().splitlines()[1:]}
    assert sock.port in local_ports


def test_seqpacket_unix_socket(bound: list[CircusSocket], tmp_path: Path) -> None:
    path = tmp_path / "seq.sock"
    sock = _bind(bound, path=str(path), type="SOCK_SEQPACKET")
    assert sock.sock is not None and sock.sock.type == socket.SOCK_SEQPACKET
    assert _listening(sock)


# Run in a network namespace of its own (we are root there, so SO_BINDTODEVICE
# cannot be refused) with a veth interface next to lo. A listener bound to
# 0.0.0.0 on v0 must not be reached through lo; the same on lo must be.
_NETNS_SETUP = ("ip link set lo up && ip link add v0 type veth peer name v1"
                " && ip addr add 10.77.0.1/24 dev v0 && ip link set v0 up && ip link set v1 up")
_BIND_ON_EACH_DEVICE = """
import json, socket
from circus.sockets import CircusSocket
seen = {}
for device in ("v0", "lo"):
    sock = CircusSocket.load_from_config(
        {"name": "s", "host": "0.0.0.0", "port": 0, "interface": device})
    sock.bind_and_listen()
    bound = sock.sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
    try:
        socket.create_connection(("127.0.0.1", sock.port), timeout=5).close()
        reached = True
    except ConnectionRefusedError:
        reached = False
    seen[device] = {"bound_to": bound.rstrip(b"\\0").decode(), "reached_via_lo": reached}
    sock.close()
print(json.dumps(seen))
"""


def test_interface_binds_to_the_device() -> None:
    # The suite runs as root (make test): unshare must work. Were it refused,
    # the option would not be tested, so that is a failure, not a pass.
    argv = ["unshare", "--net", "sh", "-c", f'{_NETNS_SETUP} && exec "$0" -c "$1"',
            sys.executable, _BIND_ON_EACH_DEVICE]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, (
        f"could not test interface= in a network namespace (needs root, iproute2 and "
        f"util-linux, which make test installs): {done.stderr.strip()}")
    assert json.loads(done.stdout) == {
        "v0": {"bound_to": "v0", "reached_via_lo": False},
        "lo": {"bound_to": "lo", "reached_via_lo": True},
    }


def test_interface_that_does_not_exist_names_the_socket(bound: list[CircusSocket]) -> None:
    with pytest.raises(CircusError) as info:
        _bind(bound, host="127.0.0.1", port=0, interface="nosuchdev0")
    assert "socket 's'" in str(info.value) and "No such device" in str(info.value)


def test_non_blocking_unless_blocking(bound: list[CircusSocket]) -> None:
    default = _bind(bound, host="127.0.0.1", port=0)
    blocking = _bind(bound, host="127.0.0.1", port=0, blocking=True)
    assert default.sock is not None and not default.sock.getblocking()
    assert blocking.sock is not None and blocking.sock.getblocking()


def test_circusd_fds_are_not_inheritable(bound: list[CircusSocket]) -> None:
    sock = _bind(bound, host="127.0.0.1", port=0)
    assert not os.get_inheritable(sock.fileno())


def test_address_in_use_names_socket_and_address(bound: list[CircusSocket]) -> None:
    first = _bind(bound, host="127.0.0.1", port=0)
    with pytest.raises(CircusError) as info:
        _bind(bound, name="second", host="127.0.0.1", port=first.port)
    assert f"127.0.0.1:{first.port}" in str(info.value)
    assert "'second'" in str(info.value) and "in use" in str(info.value)


def test_use_papa_is_kept_and_papa_held_sockets_are_not_bound_here() -> None:
    sock = CircusSocket(name="p", port=0, use_papa=True)
    assert sock.use_papa is True
    sock.held_by_papa("127.0.0.1", 4321)
    sock.bind_and_listen()  # papa listens: circusd keeps no copy
    assert sock.fileno() == -1
    assert sock.location.endswith(":4321")


def test_bad_family_type_and_protocol_are_named() -> None:
    with pytest.raises(ValueError, match="family"):
        CircusSocket(name="x", family="AF_BOGUS")
    with pytest.raises(ValueError, match="type"):
        CircusSocket(name="x", type="SOCK_BOGUS")
    with pytest.raises(ValueError, match="protocol"):
        CircusSocket(name="x", proto="bogus-proto")


def test_arbiter_socket_specs_are_normalised() -> None:
    given = CircusSocket(name="Web", port=0)
    sockets = build_sockets({"Web": given, "api": {"host": "127.0.0.1", "port": 0}})
    assert list(sockets) == ["web", "api"]
    assert sockets["web"] is given and isinstance(sockets["api"], CircusSocket)
    assert sockets["api"].name == "api"
