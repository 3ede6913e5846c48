"""circus-core's copy of the wire vocabulary equals circus.client's, and errnos round-trip.

circus-core installs alone, so it keeps one private copy (``circus._base.protocol``
and the errnos in ``circus.errors``) of what ``circus.client.protocol`` holds
for every other package. This is the one place where both are installed, so
it is where the copy is held equal: constants, the endpoint grammar and the
human formats, value for value. The last tests send requests that fail to a
real circusd and check that the client raises the class of the same name and
number as the exception the daemon raised.
"""

from __future__ import annotations

import json
import re
from typing import Any

import circus._base.protocol as core  # the private copy this test exists to check
import circus.client.protocol as client
import circus.errors
import pytest
import zmq
from _circus_run import CircusRun, Daemon
from circus.client import (
    ERRNO_CLASSES,
    CircusClient,
    CommandError,
    InvalidJSONError,
    MessageError,
    UnknownCommandError,
    error_for_reply,
)
from hypothesis import given, settings
from hypothesis import strategies as st

ENDPOINTS = [
    "tcp://127.0.0.1:5555", "TCP://localhost:1", "tcp://[::1]:65535", "tcp://*:5557",
    "tcp://eth0;10.0.0.1:80", "tcp://::1:5555", "ipc:///run/c.sock", "ipc://@abstract",
    "ipc:///a b", "inproc://x", "udp://239.0.0.1:12027", "pgm://eth0;239.0.0.1:5555",
    "localhost:5555", "http://x:1", "tcp://", "ipc://", "tcp://127.0.0.1", "tcp://:5555",
    "tcp://[]:1", "tcp://h:http", "tcp://h:0", "tcp://h:65536", "tcp://h:5555 ", "tcp://a b:1",
    "udp://239.0.0.1", "", "://", "tcp:/h:1",
]
SCHEME_SETS = [client.CONTROL_SCHEMES, client.ZMQ_SCHEMES, ("udp",), ("tcp",), ("ipc",)]


def _outcome(module: Any, text: str, schemes: tuple[str, ...]) -> tuple[Any, ...]:
    try:
        parsed = module.parse_endpoint(text, schemes)
    except ValueError as exc:
        return ("error", type(exc).__name__, str(exc))
    return (parsed.text, parsed.scheme, parsed.host, parsed.port, parsed.address)


def test_constants_are_the_same() -> None:
    for name in ("DEFAULT_ENDPOINT", "DEFAULT_PUBSUB", "DEFAULT_STATS_ENDPOINT",
                 "CONTROL_SCHEMES", "ZMQ_SCHEMES"):
        assert getattr(core, name) == getattr(client, name), name


@pytest.mark.parametrize("schemes", SCHEME_SETS)
@pytest.mark.parametrize("text", ENDPOINTS)
def test_endpoint_grammar_is_the_same(text: str, schemes: tuple[str, ...]) -> None:
    assert _outcome(core, text, schemes) == _outcome(client, text, schemes)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="tcpiudn:/[]*;@ 0123456789.hx", max_size=24))
def test_endpoint_grammar_agrees_on_any_text(text: str) -> None:
    for schemes in SCHEME_SETS:
        assert _outcome(core, text, schemes) == _outcome(client, text, schemes)


@pytest.mark.parametrize("seconds", [0, 0.004, 0.01, 0.05, 0.29, 1, 59.99, 59.999, 59.9999996,
                                     60, 754.5, 3599.999, 3600, 86405.5])
def test_cpu_clock_is_the_same_at_the_boundaries(seconds: float) -> None:
    assert core.cpu_clock(seconds) == client.cpu_clock(seconds)
    assert core.cpu_clock(59.999) == "0:59.99"  # the case the two packages disagreed on


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_cpu_clock_is_the_same_everywhere(seconds: float) -> None:
    assert core.cpu_clock(seconds) == client.cpu_clock(seconds)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(min_value=0, max_value=1 << 100),
                 st.integers(min_value=1, max_value=10).map(lambda p: (1 << (10 * p)) - 1)))
def test_human_bytes_is_the_same(count: int) -> None:
    assert core.human_bytes(count) == client.human_bytes(count)


def test_errnos_and_their_classes_are_the_same() -> None:
    for number, name in client.ERRNO_NAMES.items():
        assert getattr(circus.errors, name) == number, name
    assert set(circus.errors.ERRNO_CLASSES) == set(ERRNO_CLASSES)
    for number, core_class in circus.errors.ERRNO_CLASSES.items():
        client_class = ERRNO_CLASSES[number]
        assert core_class.errno == client_class.errno == number
        # The root differs (the daemon's CircusError, the client's CallError);
        # below it, one name per number on both sides.
        if number != client.NOT_SPECIFIED:
            assert core_class.__name__ == client_class.__name__


def _ours(run: CircusRun) -> Daemon:
    config, endpoint, pubsub = run.config("ours", run.watchers({"alpha": 1}))
    daemon = run.start("ours", config, endpoint, pubsub)
    daemon.wait_pids("alpha", 1)
    return daemon


def _raw_reply(endpoint: str, frame: bytes) -> dict[str, Any]:
    """Send *frame* as is (not JSON, for errno 1) and decode the reply."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(frame)
        assert sock.poll(10_000), "no reply to a frame that is not JSON"
        reply: dict[str, Any] = json.loads(sock.recv())
        return reply
    finally:
        sock.close()


def test_real_error_replies_raise_the_class_of_the_same_name(circus_run: CircusRun) -> None:
    daemon = _ours(circus_run)
    invalid = error_for_reply(_raw_reply(daemon.endpoint, b"{not json"))
    assert type(invalid) is InvalidJSONError
    assert invalid.errno == circus.errors.InvalidJSONError.errno == 1

    with CircusClient(daemon.endpoint, timeout=10, check=True) as checked:
        with pytest.raises(UnknownCommandError) as unknown:
            checked.call("nosuchcommand")
        assert unknown.value.errno == circus.errors.UnknownCommandError.errno

        # The daemon raises UnknownWatcherError, a MessageError (errno 3).
        with pytest.raises(MessageError, match="nosuch") as message:
            checked.call("stop", name="nosuch")
        assert message.value.errno == circus.errors.UnknownWatcherError.errno

        # The daemon raises ConflictError, a CommandError (errno 5): the wire
        # carries the number only, so it arrives as CommandError.
        with pytest.raises(CommandError, match="already exists") as conflict:
            checked.call("add", name="alpha", cmd="sleep 60")
        assert conflict.value.errno == circus.errors.ConflictError.errno

        assert checked.call("numwatchers")["numwatchers"] == 1


def test_core_formats_reach_the_wire(circus_run: CircusRun) -> None:
    daemon = _ours(circus_run)
    [pid] = daemon.pids("alpha")
    info = daemon.call("stats", name="alpha", process=pid)["info"]
    assert re.fullmatch(r"\d+:[0-5]\d\.\d\d", info["ctime"]), info
    assert re.fullmatch(r"\d+B|\d+\.\d\d[KMGTPEZY]", info["mem_info1"]), info
