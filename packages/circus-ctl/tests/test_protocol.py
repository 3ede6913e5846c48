"""circus.client.protocol: the shared endpoints, endpoint grammar and human formats."""

from __future__ import annotations

import subprocess
import sys

import circus.client
import pytest
from circus.client import protocol
from circus.client.protocol import (
    CONTROL_SCHEMES,
    ZMQ_SCHEMES,
    Endpoint,
    EndpointError,
    cpu_clock,
    human_bytes,
    parse_endpoint,
)


def test_default_endpoints_are_upstreams_ports():
    assert protocol.DEFAULT_ENDPOINT == "tcp://127.0.0.1:5555"
    assert protocol.DEFAULT_PUBSUB == "tcp://127.0.0.1:5556"
    assert protocol.DEFAULT_STATS_ENDPOINT == "tcp://127.0.0.1:5557"
    # circus.client re-exports the same objects, not copies.
    assert circus.client.DEFAULT_ENDPOINT is protocol.DEFAULT_ENDPOINT
    assert circus.client.DEFAULT_STATS_ENDPOINT is protocol.DEFAULT_STATS_ENDPOINT


@pytest.mark.parametrize(("text", "expected"), [
    ("tcp://127.0.0.1:5555", Endpoint("tcp://127.0.0.1:5555", "tcp", "127.0.0.1", 5555,
                                      "127.0.0.1:5555")),
    ("TCP://localhost:1", Endpoint("TCP://localhost:1", "tcp", "localhost", 1, "localhost:1")),
    ("tcp://[::1]:65535", Endpoint("tcp://[::1]:65535", "tcp", "::1", 65535, "[::1]:65535")),
    ("tcp://*:5557", Endpoint("tcp://*:5557", "tcp", "*", 5557, "*:5557")),
    ("tcp://eth0;10.0.0.1:80", Endpoint("tcp://eth0;10.0.0.1:80", "tcp", "eth0;10.0.0.1", 80,
                                        "eth0;10.0.0.1:80")),
    ("ipc:///run/circus/a b.sock", Endpoint("ipc:///run/circus/a b.sock", "ipc", None, None,
                                            "/run/circus/a b.sock")),
    ("ipc://@abstract", Endpoint("ipc://@abstract", "ipc", None, None, "@abstract")),
])
def test_valid_endpoints_parse_into_their_parts(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(("text", "complaint"), [
    ("localhost:5555", "this is not a ZeroMQ endpoint; expected tcp://HOST:PORT or ipc://PATH"),
    ("http://127.0.0.1:80", "this is not a ZeroMQ endpoint"),
    ("tcp://", "this is not a ZeroMQ endpoint"),
    ("ipc://", "this is not a ZeroMQ endpoint"),
    ("tcp://127.0.0.1", "expected tcp://HOST:PORT with a numeric port"),
    ("tcp://:5555", "expected tcp://HOST:PORT with a numeric port"),
    ("tcp://[]:5555", "expected tcp://HOST:PORT with a numeric port"),
    ("tcp://127.0.0.1:http", "expected tcp://HOST:PORT with a numeric port"),
    ("tcp://127.0.0.1:5555 ", "expected tcp://HOST:PORT with a numeric port"),
    ("tcp://my host:5555", "expected tcp://HOST:PORT with a numeric port"),
    ("tcp://127.0.0.1:0", "port 0 is out of range (1-65535)"),
    ("tcp://127.0.0.1:65536", "port 65536 is out of range (1-65535)"),
])
def test_invalid_endpoints_are_one_line_errors_naming_the_endpoint(text, complaint):
    with pytest.raises(EndpointError) as caught:
        parse_endpoint(text)
    message = str(caught.value)
    assert message.startswith(f"invalid endpoint {text!r}: ")
    assert complaint in message and "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_schemes_choose_the_transports_accepted():
    assert parse_endpoint("inproc://stats", ZMQ_SCHEMES).address == "stats"
    assert parse_endpoint("udp://239.0.0.1:12027", ("udp",)).port == 12027
    with pytest.raises(EndpointError, match="another ZeroMQ transport"):
        parse_endpoint("gopher://x", ZMQ_SCHEMES)
    with pytest.raises(EndpointError, match=r"expected tcp://HOST:PORT or ipc://PATH$"):
        parse_endpoint("inproc://stats", CONTROL_SCHEMES)
    with pytest.raises(EndpointError, match="udp://HOST:PORT with a numeric port"):
        parse_endpoint("udp://239.0.0.1", ("udp",))


@pytest.mark.parametrize(("seconds", "clock"), [
    (0, "0:00.00"),
    (0.004, "0:00.00"),   # truncated, as upstream: never more CPU than was used
    (0.009999, "0:00.00"),
    (0.01, "0:00.01"),
    (0.05, "0:00.05"),    # upstream printed 0:00.50 here (unpadded microseconds)
    (0.17, "0:00.17"),
    (0.29, "0:00.29"),    # 0.29 * 100 is 28.999... in floating point
    (1.0, "0:01.00"),
    (59.99, "0:59.99"),
    (59.999, "0:59.99"),  # the boundary core and stats disagreed on (0:60.00 / 1:00.00)
    (59.9999994, "0:59.99"),
    (59.9999996, "1:00.00"),  # rounds to 60 s at the microsecond, as upstream's timedelta
    (60, "1:00.00"),
    (60.005, "1:00.00"),
    (754.5, "12:34.50"),
    (3599.999, "59:59.99"),
    (3600, "60:00.00"),   # minutes do not wrap at the hour (upstream printed 0:00.0)
    (86405.5, "1440:05.50"),
])
def test_cpu_clock_at_the_boundaries(seconds, clock):
    assert cpu_clock(seconds) == clock


def test_cpu_clock_never_shows_sixty_seconds():
    for centis in range(0, 400_000, 7):
        for offset in (0.0, 0.004, 0.0099):
            text = cpu_clock(centis / 100 + offset)
            minutes, _, rest = text.partition(":")
            assert len(rest) == 5 and rest[2] == "." and int(rest[:2]) < 60, text
            assert int(minutes) * 6000 + int(rest[:2]) * 100 + int(rest[3:]) == centis, text


@pytest.mark.parametrize(("count", "text"), [
    (0, "0B"),
    (1023, "1023B"),
    (1024, "1.00K"),
    (1536, "1.50K"),
    (1024 * 1024 - 1, "1024.00K"),  # upstream keeps the smaller multiple
    (1024 * 1024, "1.00M"),
    (int(25.34 * 1024 * 1024), "25.34M"),
    (1024**5, "1.00P"),
    (1024**6, "1.00E"),
    (1024**8, "1.00Y"),
    (1024**9, "1024.00Y"),
])
def test_human_bytes_at_the_boundaries(count, text):
    assert human_bytes(count) == text


def test_protocol_imports_without_pyzmq():
    code = ("import sys, circus.client.protocol, circus.client.cli; "
            "print('zmq' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.stdout == "False\n", result.stderr
