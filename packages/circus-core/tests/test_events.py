"""Events carry upstream's topics (watcher.<lowercased name>.<event>) and payload keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import EventLog, apoll, python_cmd

SLEEPER = python_cmd("import time; time.sleep(60)")

# Upstream's payload keys, per event, plus the ones we add (documented in the
# README: reap's "commanded").
KEYS = {
    "spawn": {"process_pid", "time"},
    "reap": {"process_pid", "time", "exit_code", "commanded"},
    "kill": {"process_pid", "time"},
    "start": {"time"},
    "stop": {"time"},
    "reload": {"time"},
    "add": {"time"},
    "remove": {"time"},
}


async def test_lifecycle_events_have_upstream_topics_and_keys(
    make_arbiter: Callable[..., Any],
) -> None:
    began = time.time()
    watcher = Watcher("MyApp", SLEEPER, numprocesses=2)
    harness = await make_arbiter(watcher, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    await watcher.reload()
    await watcher.stop()
    ended = time.time()

    seen = set()
    for _, topic, payload in log.entries:
        prefix, name, event = topic.split(".")
        assert (prefix, name) == ("watcher", "myapp"), topic
        assert set(payload) == KEYS[event], (topic, payload)
        assert began <= payload["time"] <= ended
        seen.add(event)
    assert seen == {"spawn", "reap", "kill", "start", "stop", "reload"}

    spawned = log.pids("watcher.myapp.spawn")
    assert len(spawned) == 4
    assert sorted(log.pids("watcher.myapp.reap")) == sorted(spawned)
    assert sorted(log.pids("watcher.myapp.kill")) == sorted(spawned)
    # SIGTERM from a stop: exit_code is -signum, as upstream reports it.
    assert {p["exit_code"] for _, p in log.of("watcher.myapp.reap")} == {-15}


async def test_add_and_remove_events(make_arbiter: Callable[..., Any]) -> None:
    harness = await make_arbiter()
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.add_watcher("Extra", SLEEPER, start=True)
    await harness.arbiter.rm_watcher("extra")
    topics = [t for _, t, _ in log.entries if t.startswith("watcher.")]
    assert topics[0] == "watcher.extra.add"
    # Upstream announces the removal first, then stops the watcher.
    assert topics.index("watcher.extra.remove") < topics.index("watcher.extra.stop")
    assert topics[-1] == "watcher.extra.stop"
    for _, topic, payload in log.entries:
        if topic.startswith("watcher."):
            assert set(payload) == KEYS[topic.split(".")[2]], (topic, payload)
    # Ours: the same two, once each, on fixed topics that name the watcher.
    announced = [(t, p["name"]) for _, t, p in log.entries if t.startswith("arbiter.")]
    assert announced == [("arbiter.add", "extra"), ("arbiter.remove", "extra")]


@pytest.mark.parametrize(("name", "topic_name"), [("Web Front", "web_front"), ("UPPER", "upper")])
async def test_topic_name_is_lowercased_with_spaces_replaced(
    make_arbiter: Callable[..., Any], name: str, topic_name: str
) -> None:
    watcher = Watcher(name, SLEEPER)
    harness = await make_arbiter(watcher, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    await apoll(lambda: log.entries)
    assert [t for _, t, _ in log.entries] == [
        f"watcher.{topic_name}.spawn", f"watcher.{topic_name}.start"
    ]


async def test_a_failing_subscriber_does_not_stop_the_others(
    make_arbiter: Callable[..., Any],
) -> None:
    watcher = Watcher("sturdy", SLEEPER)
    harness = await make_arbiter(watcher, start=False)

    def broken(topic: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    harness.arbiter.events.subscribe(broken)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    assert [t for _, t, _ in log.entries] == ["watcher.sturdy.spawn", "watcher.sturdy.start"]
    assert watcher.status() == "active"
