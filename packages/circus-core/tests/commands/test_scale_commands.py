"""incr / decr through the dispatcher."""

from __future__ import annotations

from typing import Any

from circus.watcher import Watcher
from conftest import apoll

from .conftest import fields


async def test_incr_decr_waiting_reply_new_target(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("pool", "sleep 60", numprocesses=1, graceful_timeout=5))
    call = ctl(harness)
    pool = harness.watcher("pool")
    first = pool.pids[0]
    reply = await call("incr", name="pool", nb=2, waiting=True)
    assert fields(reply) == {"numprocesses": 3}
    assert len(pool.pids) == 3
    reply = await call("incr", name="POOL", waiting=True)
    assert fields(reply) == {"numprocesses": 4}
    reply = await call("decr", name="pool", nb="2", waiting=True)
    assert fields(reply) == {"numprocesses": 2}
    assert len(pool.pids) == 2 and first not in pool.pids  # the oldest went first
    reply = await call("decr", name="pool", nb=10, waiting=True)
    assert fields(reply) == {"numprocesses": 0} and not pool.pids


async def test_incr_not_waiting_is_bare_ok(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("pool", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("incr", name="pool", waiting=False)
    assert fields(reply) == {}
    await apoll(lambda: len(harness.watcher("pool").pids) == 2)


async def test_singleton_answers_at_once(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("one", "sleep 60", singleton=True, graceful_timeout=5))
    call = ctl(harness)
    for command in ("incr", "decr"):
        reply = await call(command, name="one", waiting=True)
        assert fields(reply) == {"numprocesses": 1, "singleton": True}
    assert len(harness.watcher("one").pids) == 1


async def test_scale_errors(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("pool", "sleep 60", graceful_timeout=5))
    call = ctl(harness)
    reply = await call("incr", name="ghost")
    assert (reply["errno"], reply["reason"]) == (3, "program ghost not found")
    reply = await call("incr", nb=1)
    assert (reply["errno"], reply["reason"]) == (3, "message invalid 'name' is missing")
    reply = await call("decr", name="pool", nb="lots")
    assert reply["errno"] == 3 and "'nb'" in reply["reason"]
    reply = await call("incr", name="pool", nb=-1)
    assert reply["errno"] == 3 and "non-negative" in reply["reason"]
