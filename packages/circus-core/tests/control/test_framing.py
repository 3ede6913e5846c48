"""The control channel's framing and its answers to bad input; it keeps serving."""

from __future__ import annotations

import json

import zmq
import zmq.asyncio
from circus.watcher import Watcher
from conftest import python_cmd

from ._client import Client

SLEEPER = python_cmd("import time\nwhile True: time.sleep(0.2)")


async def test_reply_is_one_frame_with_the_request_id(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        await client.send(b'{"command": "numwatchers", "id": "abc123"}')
        reply = await client.recv()
    assert reply["id"] == "abc123"
    assert reply["status"] == "ok"
    assert reply["numwatchers"] == 0
    assert isinstance(reply["time"], float)


async def test_missing_id_is_answered_with_null(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        await client.send(b'{"command": "list"}')
        reply = await client.recv()
    assert reply == {"status": "ok", "time": reply["time"], "watchers": [], "id": None}


async def test_replies_go_to_the_client_that_asked(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as one, Client(harness.arbiter.endpoint) as two:
        await one.send(b'{"command": "list", "id": "one"}')
        await two.send(b'{"command": "numwatchers", "id": "two"}')
        assert (await two.recv())["id"] == "two"
        assert (await one.recv())["id"] == "one"


async def test_a_cast_gets_no_reply_even_on_error(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        await client.send(b'{"command": "list", "msg_type": "cast", "id": "1"}')
        await client.send(b'{"command": "nope", "msg_type": "cast", "id": "2"}')
        await client.send(b'{"command": "status", "msg_type": "cast", '
                          b'"properties": {"name": "ghost"}}')
        assert await client.nothing()
        # ...and the channel still answers normal calls.
        assert (await client.call("numwatchers"))["numwatchers"] == 0


async def test_a_multi_frame_message_is_dropped_and_the_next_one_answered(make_arbiter):
    harness = await make_arbiter(channels=True)
    context = zmq.asyncio.Context()
    req = context.socket(zmq.REQ)  # REQ adds an empty delimiter: 3 frames at the ROUTER
    req.setsockopt(zmq.LINGER, 0)
    req.connect(harness.arbiter.endpoint)
    try:
        await req.send(b'{"command": "list", "id": "x"}')
        assert not await req.poll(300)
        async with Client(harness.arbiter.endpoint) as client:
            await client.send(b"part one", b'{"command": "list", "id": "y"}')
            assert await client.nothing()
            assert (await client.call("list"))["watchers"] == []
    finally:
        req.close(linger=0)
        context.term()


BAD_INPUT = [
    (b"this is not json", 1, "json invalid"),
    (b"", 1, "json invalid"),
    (b"[1, 2, 3]", 3, "expected a JSON object, got list"),
    (b'"list"', 3, "expected a JSON object, got str"),
    (b'{"properties": {}, "id": "m"}', 3, "message invalid 'command' is missing"),
    (b'{"command": 42, "id": "m"}', 3, "message invalid 'command' is missing"),
    (b'{"command": "frobnicate", "id": "m"}', 2, "unknown command: 'frobnicate'"),
    (b'{"command": "list", "properties": [1], "id": "m"}', 3, "'properties' must be an object"),
    (b'{"command": "list", "properties": {"name": 7}, "id": "m"}', 3,
     "property 'name': expected a string, got an integer 7"),
    (b'{"command": "status", "properties": {"name": "ghost"}, "id": "m"}', 3,
     "program ghost not found"),
    (b'{"command": "get", "properties": {"name": "sleeper", "keys": "cmd"}, "id": "m"}', 3,
     "property 'keys': expected a list"),
    (b'{"command": "options", "properties": {}, "id": "m"}', 3,
     "message invalid 'name' is missing"),
    (b'{"command": "stats", "properties": {"name": "sleeper", "process": "x"}, "id": "m"}', 3,
     "property 'process': expected an integer"),
]


async def test_every_bad_input_gets_its_error_and_the_daemon_keeps_serving(make_arbiter):
    harness = await make_arbiter(Watcher("sleeper", SLEEPER, graceful_timeout=2), channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        for payload, errno, reason in BAD_INPUT:
            await client.send(payload)
            reply = await client.recv()
            assert reply["status"] == "error", payload
            assert reply["errno"] == errno, (payload, reply)
            assert reason in reply["reason"], (payload, reply)
            assert reply["tb"] is None
            assert reply["id"] in (None, "m")
            assert (await client.call("status", name="sleeper"))["status"] == "active"


async def test_a_10_mb_message_gets_an_error_reply(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        big = json.dumps({"command": "list", "id": "big", "pad": "x" * 10_000_000}).encode()
        await client.send(big)
        reply = await client.recv()
        assert reply["status"] == "error" and reply["errno"] == 3
        assert "message too large" in reply["reason"]
        assert (await client.call("numwatchers"))["status"] == "ok"


async def test_a_message_past_the_zmq_limit_is_dropped_and_others_still_served(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        await client.send(b"x" * (20 * 1024 * 1024))  # above MAXMSGSIZE: ZMQ cuts us off
        assert await client.nothing(0.5)
    async with Client(harness.arbiter.endpoint) as other:
        assert (await other.call("numwatchers"))["status"] == "ok"


async def test_whitespace_around_json_is_accepted(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        await client.send(b'  \n{"command": "numwatchers", "id": "w"}\n ')
        assert (await client.recv())["numwatchers"] == 0
