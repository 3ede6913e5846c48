"""Property test: whatever arrives, the dispatcher answers with a well-formed reply."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from circus.commands import Dispatcher, load_commands
from circus.watcher import Watcher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMMAND_NAMES = sorted(load_commands())
PROPERTY_NAMES = ["name", "pid", "process", "keys", "option", "extended", "waiting", "match",
                  "nb", "signum", "options", "cmd", "args", "start", "nostop", "graceful",
                  "sequential", "children", "recursive", "childpid", "graceful_timeout"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70_000), st.floats(-1e3, 1e3),
                    st.sampled_from(["sleeper", "SLEEPER", "ghost", "*", "HUP", "1", "", "x y"]),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
properties = st.dictionaries(st.sampled_from(PROPERTY_NAMES), values, max_size=5)
messages = st.one_of(
    st.fixed_dictionaries({"command": st.sampled_from(COMMAND_NAMES), "properties": properties},
                          optional={"id": st.one_of(st.none(), st.text(max_size=8)),
                                    "msg_type": st.sampled_from(["cast", "dealer"])}),
    st.dictionaries(st.text(max_size=8), values, max_size=4),
    values,
)
# Commands that must never touch real processes with random input.
HARMLESS_CMD = "true"


def _defuse(message: object) -> object:
    if isinstance(message, dict) and isinstance(message.get("properties"), dict):
        props = message["properties"]
        if "cmd" in props:
            props["cmd"] = HARMLESS_CMD
        if "options" in props and isinstance(props["options"], dict):
            props["options"].pop("cmd", None)
        props["waiting"] = True  # so every operation finishes within the example
        if str(message.get("command", "")).lower() == "quit":
            message["command"] = "numwatchers"
    return message


def _well_formed(raw: bytes | None, msg_id: object, cast: bool) -> None:
    if cast:
        assert raw is None
        return
    assert raw is not None
    reply = json.loads(raw)
    assert isinstance(reply, dict)
    assert "status" in reply and isinstance(reply["time"], float)
    if reply["status"] == "error":
        assert isinstance(reply["errno"], int) and 0 <= reply["errno"] <= 6
        assert isinstance(reply["reason"], str) and reply["reason"]
    if reply.get("errno") != 1:
        assert reply["id"] == msg_id


async def test_random_messages_always_get_a_well_formed_reply(make_arbiter):
    harness = await make_arbiter(Watcher("sleeper", "sleep 60", graceful_timeout=1))
    arbiter = harness.arbiter
    dispatcher = Dispatcher(arbiter)
    loop = asyncio.get_running_loop()

    @settings(max_examples=200, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(messages)
    def check(message: Any) -> None:
        message = _defuse(message)
        raw = json.dumps(message).encode()
        # Hypothesis drives from a worker thread; commands run on the arbiter's loop.
        outcome = asyncio.run_coroutine_threadsafe(_handle(dispatcher, raw), loop).result(30)
        is_dict = isinstance(message, dict)
        cast = is_dict and message.get("msg_type") == "cast" and "command" in message
        msg_id = message.get("id") if is_dict else None
        if cast and isinstance(message.get("command"), str) and message["command"]:
            assert outcome is None
        elif outcome is not None:
            _well_formed(outcome, msg_id, cast=False)

    await loop.run_in_executor(None, check)
    await dispatcher.drain()
    # Watchers a random ``add`` created go away with the arbiter at teardown.


async def _handle(dispatcher: Dispatcher, raw: bytes) -> bytes | None:
    outcome = dispatcher.handle(raw)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return outcome
