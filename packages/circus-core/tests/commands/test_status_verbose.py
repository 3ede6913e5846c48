"""``status`` stays upstream's; ``verbose=true`` adds the slots waiting out a backoff."""

from __future__ import annotations

from typing import Any

from circus.watcher import Watcher
from conftest import apoll, python_cmd

from .conftest import fields

CRASH = python_cmd("import sys; sys.exit(1)")


async def test_verbose_status_shows_waiting_slots(make_arbiter: Any, ctl: Any) -> None:
    crasher = Watcher("crasher", CRASH, numprocesses=2, retry_in=30, min_uptime=5)
    harness = await make_arbiter(crasher, Watcher("calm", "sleep 60", graceful_timeout=5))
    call = ctl(harness)
    await apoll(lambda: len(crasher.backoff_slots()) == 2, timeout=30)

    assert fields(await call("status")) == {"statuses": {"crasher": "active", "calm": "active"}}
    assert fields(await call("status", name="crasher")) == {}  # "status" is the answer itself
    assert (await call("status", name="crasher"))["status"] == "active"

    reply = await call("status", verbose=True)
    assert reply["statuses"] == {"crasher": "active", "calm": "active"}
    assert list(reply["backoff"]) == ["crasher"]
    slots = reply["backoff"]["crasher"]
    assert sorted(s["wid"] for s in slots) == [1, 2]
    for slot in slots:
        assert slot["quick_exits"] == 1 and slot["spawn_failures"] == 0
        assert 22.5 <= slot["delay"] <= 30
        assert 0 < slot["retry_in"] <= slot["delay"]

    reply = await call("status", name="calm", verbose="true")
    assert reply["status"] == "active" and reply["backoff"] == {}


async def test_verbose_must_be_a_boolean(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("calm", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("status", verbose="loud")
    assert reply["status"] == "error" and "verbose" in reply["reason"]
