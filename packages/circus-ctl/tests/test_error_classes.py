"""An error reply comes back as the CallError subclass of its errno, one class per errno."""

from __future__ import annotations

import pytest
from circus.client import (
    ERRNO_CLASSES,
    BadMessageDataError,
    CallError,
    CircusClient,
    CircusOSError,
    ClientError,
    CommandError,
    InvalidJSONError,
    MessageError,
    UnknownCommandError,
    error_for_reply,
    protocol,
    raise_for_status,
)


def _subclasses(cls: type[CallError]) -> set[type[CallError]]:
    found: set[type[CallError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_every_errno_has_a_class_and_every_class_an_errno():
    assert set(ERRNO_CLASSES) == set(protocol.ERRNO_NAMES)
    every_class = {CallError} | _subclasses(CallError)
    assert set(ERRNO_CLASSES.values()) == every_class
    for errno, cls in ERRNO_CLASSES.items():
        assert cls.errno == errno
        assert issubclass(cls, CallError) and issubclass(cls, ClientError)


def test_the_numbers_are_upstreams():
    assert protocol.ERRNO_NAMES == {
        0: "NOT_SPECIFIED", 1: "INVALID_JSON", 2: "UNKNOWN_COMMAND", 3: "MESSAGE_ERROR",
        4: "OS_ERROR", 5: "COMMAND_ERROR", 6: "BAD_MSG_DATA_ERROR",
    }
    for number, name in protocol.ERRNO_NAMES.items():
        assert getattr(protocol, name) == number


@pytest.mark.parametrize(("errno", "cls"), [
    (1, InvalidJSONError), (2, UnknownCommandError), (3, MessageError), (4, CircusOSError),
    (5, CommandError), (6, BadMessageDataError), (0, CallError),
    (42, CallError), (True, CallError), ("3", CallError), (None, CallError),
])
def test_error_for_reply_picks_the_class_of_the_errno(errno, cls):
    reply = {"status": "error", "reason": "nope", "errno": errno}
    error = error_for_reply(reply)
    assert type(error) is cls
    assert (error.reason, error.reply, str(error)) == ("nope", reply, "nope")
    assert error.errno == (errno if type(errno) is int else 0)
    with pytest.raises(cls):
        raise_for_status(reply)


def test_ok_replies_pass_through():
    reply = {"status": "ok", "numwatchers": 1}
    assert raise_for_status(reply) is reply


def test_a_checked_client_raises_the_class_of_the_reply(daemon):
    daemon.replies["stop"] = {"status": "error", "reason": "program x not found", "errno": 3}
    daemon.replies["bogus"] = {"status": "error", "reason": "unknown command", "errno": 2}
    with CircusClient(daemon.endpoint, timeout=10, check=True) as client:
        with pytest.raises(MessageError, match="program x not found") as caught:
            client.call("stop", name="x")
        assert caught.value.errno == 3
        with pytest.raises(UnknownCommandError):
            client.call("bogus")
    with CircusClient(daemon.endpoint, timeout=10) as client:  # unchecked: the dict, as before
        assert client.call("stop", name="x")["errno"] == 3
