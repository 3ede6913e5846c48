"""The sync and async clients: framing, id matching, errors, concurrency, casts."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import zmq
from circus.client import (
    AsyncCircusClient,
    CallError,
    CallTimeout,
    CircusClient,
    ConnectionFailed,
    raise_for_status,
)


def test_call_sends_one_json_frame_and_returns_the_reply(daemon):
    daemon.replies["list"] = {"watchers": ["a"]}
    with CircusClient(daemon.endpoint) as client:
        reply = client.call("list")
        dict_reply = client.call({"command": "status", "properties": {"name": "a"}})
        json_reply = client.send_message('{"command": "numwatchers"}')
    assert reply["watchers"] == ["a"]
    first = daemon.requests[0]
    assert set(first) == {"command", "properties", "id"} and first["properties"] == {}
    assert daemon.requests[1]["properties"] == {"name": "a"}
    assert dict_reply["id"] == daemon.requests[1]["id"]
    assert json_reply["status"] == "ok" and daemon.requests[2]["command"] == "numwatchers"


def test_error_replies_are_returned_unless_check(daemon):
    daemon.replies["incr"] = {"status": "error", "reason": "program x not found", "errno": 3}
    with CircusClient(daemon.endpoint) as client:
        assert client.call("incr", name="x")["errno"] == 3
    with CircusClient(daemon.endpoint, check=True) as client, pytest.raises(CallError) as info:
        client.call("incr", name="x")
    assert (info.value.errno, info.value.reason) == (3, "program x not found")
    assert info.value.reply["status"] == "error"
    with pytest.raises(CallError):
        raise_for_status({"status": "error", "reason": "r", "errno": 5})


def test_stray_reply_with_another_id_is_ignored(daemon):
    def stray_then_real(request):
        return [{"status": "ok", "id": "0" * 32, "stray": True},
                {"status": "ok", "id": request["id"], "real": True}]

    daemon.replies["status"] = stray_then_real
    with CircusClient(daemon.endpoint) as client:
        reply = client.call("status")
    assert reply.get("real") is True and "stray" not in reply


def test_timeout_and_refused(daemon):
    daemon.silent = True
    with CircusClient(daemon.endpoint, timeout=0.2) as client, pytest.raises(CallTimeout) as info:
        client.call("status")
    assert daemon.endpoint in str(info.value)
    with socket_free_port() as port, pytest.raises(ConnectionFailed) as refused:
        CircusClient(f"tcp://127.0.0.1:{port}").call("status")
    assert refused.value.kind == "refused"


class socket_free_port:
    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc) -> None:
        return None


def test_cast_is_delivered_without_waiting(daemon):
    # The daemon never answers a cast: a cast that waited for a reply would
    # take the whole 60 s timeout.
    with CircusClient(daemon.endpoint, timeout=60) as client:
        started = time.monotonic()
        client.cast("quit", waiting=False)
        assert time.monotonic() - started < 30
    request = daemon.last("quit")
    assert request["msg_type"] == "cast" and "id" not in request
    assert request["properties"] == {"waiting": False}


def test_given_context_is_left_open(daemon):
    context = zmq.Context()
    try:
        with CircusClient(daemon.endpoint, context=context) as client:
            client.call("list")
        assert not context.closed
    finally:
        context.term()


async def test_async_concurrent_calls_are_matched_by_id(daemon):
    held: list[dict[str, Any]] = []

    def reversed_once_all_arrived(request):
        # Hold every request until all five are in, then answer last first.
        held.append(request)
        if len(held) < 5:
            return None
        return [{"status": "ok", "time": 0.0, "id": r["id"], "echo": r["properties"]["n"]}
                for r in reversed(held)]

    daemon.replies["echo"] = reversed_once_all_arrived
    async with AsyncCircusClient(daemon.endpoint) as client:
        replies = await asyncio.gather(*(client.call("echo", n=i) for i in range(5)))
    # "echo" is no documented reply key: .get reads it (as object) for the type checker.
    assert [r.get("echo") for r in replies] == [0, 1, 2, 3, 4]


async def test_async_stray_reply_ignored_and_errors(daemon):
    daemon.replies["status"] = lambda req: [{"status": "ok", "id": "f" * 32},
                                            {"status": "ok", "id": req["id"], "mine": 1}]
    daemon.replies["bad"] = {"status": "error", "reason": "nope", "errno": 2}
    async with AsyncCircusClient(daemon.endpoint, check=True) as client:
        assert (await client.call("status")).get("mine") == 1
        with pytest.raises(CallError):
            await client.call("bad")
        await client.cast("quit")
    # The cast has no reply to wait for: wait for the daemon to receive it.
    assert daemon.last("quit")["msg_type"] == "cast"


async def test_async_timeout(daemon):
    daemon.silent = True
    async with AsyncCircusClient(daemon.endpoint, timeout=0.2) as client:
        with pytest.raises(CallTimeout):
            await client.call("status")


def test_bad_arguments():
    client = CircusClient("tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="no 'command'"):
        client.call({"properties": {}})
    with pytest.raises(ValueError, match="not valid JSON"):
        client.call("{nope")
    client.close()
    assert json.loads('{"a": 1}')["a"] == 1
