"""What plugins and consoles read on the event channel besides upstream's events.

* Every ``reap`` says whether circus caused the death (``commanded``): a stop,
  a kill or a user's ``signal`` is commanded, a crash is not. Flapping counts
  only the latter.
* ``publish_action`` lets a client (a plugin, the web console) record what it
  did to a watcher and why, as ``watcher.<name>.action``.
"""

from __future__ import annotations

from typing import Any

from circus.watcher import Watcher
from conftest import apoll, python_cmd

from .conftest import fields


def _reaps(harness: Any, name: str) -> list[dict[str, Any]]:
    return [p for t, p in harness.events if t == f"watcher.{name}.reap"]


async def test_reaps_say_whether_circus_caused_the_death(make_arbiter: Any, ctl: Any) -> None:
    sleeper = Watcher("sleeper", "sleep 60", numprocesses=1, graceful_timeout=5)
    crasher = Watcher("crasher", python_cmd("import time, sys; time.sleep(0.2); sys.exit(3)"),
                      numprocesses=1, backoff=False)
    harness = await make_arbiter(sleeper, crasher)
    send = ctl(harness)
    await apoll(lambda: len(_reaps(harness, "crasher")) >= 1)
    assert _reaps(harness, "crasher")[0]["commanded"] is False
    assert _reaps(harness, "crasher")[0]["exit_code"] == 3
    assert (await send("signal", name="sleeper", signum="TERM"))["status"] == "ok"
    await apoll(lambda: len(_reaps(harness, "sleeper")) == 1)
    assert _reaps(harness, "sleeper")[0]["commanded"] is True
    await apoll(lambda: len(sleeper.pids) == 1)
    assert (await send("stop", name="sleeper", waiting=True))["status"] == "ok"
    assert [r["commanded"] for r in _reaps(harness, "sleeper")] == [True, True]


async def test_publish_action_puts_a_record_on_the_event_channel(make_arbiter: Any,
                                                                 ctl: Any) -> None:
    harness = await make_arbiter()
    send = ctl(harness)
    reply = await send("publish_action", name="web", source="plugin:flapping",
                       action="stop", reason="3 deaths in 10s")
    assert reply["status"] == "ok" and fields(reply) == {}
    [(topic, payload)] = [(t, p) for t, p in harness.events if t.endswith(".action")]
    assert topic == "watcher.web.action"
    assert {k: payload[k] for k in ("source", "action", "reason")} == {
        "source": "plugin:flapping", "action": "stop", "reason": "3 deaths in 10s"}
    assert isinstance(payload["time"], float)


async def test_publish_action_refuses_what_would_break_the_topic(make_arbiter: Any,
                                                                  ctl: Any) -> None:
    harness = await make_arbiter()
    send = ctl(harness)
    dotted = await send("publish_action", name="a.b", source="x", action="stop")
    assert (dotted["status"], dotted["errno"]) == ("error", 3)
    assert "dot" in dotted["reason"]
    missing = await send("publish_action", name="web", action="stop")
    assert (missing["status"], missing["errno"]) == ("error", 3)
    assert "'source' is missing" in missing["reason"]
    assert not [t for t, _ in harness.events if t.endswith(".action")]
