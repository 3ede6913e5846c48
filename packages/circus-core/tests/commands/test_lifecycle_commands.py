"""start / stop / restart / reload / quit through the dispatcher."""

from __future__ import annotations

from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import apoll, pid_exists_not_zombie

from .conftest import fields

SLEEP = "sleep 60"


def _watchers() -> list[Watcher]:
    return [Watcher("Web", SLEEP, numprocesses=2, priority=2, graceful_timeout=5),
            Watcher("web-two", SLEEP, priority=1, graceful_timeout=5),
            Watcher("worker", SLEEP, priority=0, graceful_timeout=5)]


async def test_stop_and_start_one_watcher_reply_info(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    call = ctl(harness)
    web = harness.watcher("web")
    old = web.pids
    reply = await call("stop", name="WEB", match="simple", waiting=True)
    assert reply["status"] == "ok"
    assert fields(reply) == {"info": None}
    assert web.status() == "stopped" and not web.processes
    assert not any(pid_exists_not_zombie(p) for p in old)
    reply = await call("start", name="web", match="simple", waiting=True)
    assert set(fields(reply)) == {"info"}
    assert set(reply["info"]) == {"started", "kept"}
    assert sorted(reply["info"]["started"]) == sorted(web.pids) and reply["info"]["kept"] == []
    again = await call("start", name="web", waiting=True)
    assert again["info"] == {"started": [], "kept": web.pids}


async def test_restart_one_watcher_reply_info(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    web = harness.watcher("web")
    old = web.pids
    reply = await ctl(harness)("restart", name="web", match="glob", waiting=True)
    assert set(reply["info"]) == {"stopped", "started", "kept"}
    assert reply["info"]["stopped"] == old
    assert sorted(reply["info"]["started"]) == sorted(web.pids)
    assert not set(old) & set(web.pids)


async def test_glob_match_several_is_arbiter_level(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    reply = await ctl(harness)("stop", name="web*", match="glob", waiting=True)
    assert fields(reply) == {}
    assert harness.watcher("web").status() == "stopped"
    assert harness.watcher("web-two").status() == "stopped"
    assert harness.watcher("worker").status() == "active"
    stops = [t for t in harness.topics(".stop")]
    # Stops run lowest priority first.
    assert stops == ["watcher.web-two.stop", "watcher.web.stop"]
    await ctl(harness)("start", name="web*", waiting=True)
    starts = harness.topics(".start")[-2:]
    assert starts == ["watcher.web.start", "watcher.web-two.start"]


async def test_regex_match_and_errors(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    call = ctl(harness)
    reply = await call("stop", name="wor.*", match="regex", waiting=True)
    assert reply == {**reply, "status": "ok", "info": None}
    assert harness.watcher("worker").status() == "stopped"
    bad = await call("stop", name="web", match="fuzzy")
    assert (bad["status"], bad["errno"], bad["reason"]) == ("error", 3,
                                                            "unknown match method fuzzy")
    missing = await call("start", name="nope*")
    assert (missing["errno"], missing["reason"]) == (3, "program nope* not found")
    broken = await call("start", name="(", match="regex")
    assert broken["errno"] == 3 and "invalid regex" in broken["reason"]
    simple = await call("start", name="web*", match="simple")
    assert simple["reason"] == "program web* not found"


async def test_no_name_start_stop_restart_all(make_arbiter: Any, ctl: Any) -> None:
    manual = Watcher("manual", SLEEP, autostart=False, graceful_timeout=5)
    harness = await make_arbiter(*_watchers(), manual)
    call = ctl(harness)
    assert manual.status() == "stopped"
    reply = await call("stop", waiting=True, match="glob")
    assert fields(reply) == {}
    assert all(w.status() == "stopped" for w in harness.arbiter.watchers)
    await call("start", waiting=True, match="glob")
    assert manual.status() == "stopped"  # autostart=false is skipped
    assert all(w.status() == "active" for w in harness.arbiter.watchers if w is not manual)
    before = {w.name: w.pids for w in harness.arbiter.watchers}
    reply = await call("restart", waiting=True)
    assert fields(reply) == {}
    for watcher in harness.arbiter.watchers:
        if watcher is manual:
            assert watcher.status() == "stopped"
        else:
            assert watcher.status() == "active"
            assert watcher.pids and not set(watcher.pids) & set(before[watcher.name])


async def test_start_not_waiting_replies_at_once(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers(), start=False)
    reply = await ctl(harness)("start", name="worker", waiting=False)
    assert fields(reply) == {}
    await apoll(lambda: harness.watcher("worker").status() == "active")


@pytest.mark.parametrize("sequential", [False, True])
async def test_reload_one_watcher(make_arbiter: Any, ctl: Any, sequential: bool) -> None:
    harness = await make_arbiter(*_watchers())
    web = harness.watcher("web")
    old = web.pids
    reply = await ctl(harness)("reload", name="web", graceful=True, sequential=sequential,
                               waiting=True)
    assert set(reply["info"]) == {"stopped", "started", "kept"}
    assert sorted(reply["info"]["stopped"]) == sorted(old)
    assert len(web.pids) == 2 and not set(web.pids) & set(old)
    assert "watcher.web.reload" in harness.topics()


async def test_reload_not_graceful_and_all(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    call = ctl(harness)
    old = harness.watcher("worker").pids
    reply = await call("reload", name="worker", graceful=False, waiting=True)
    assert reply["info"]["stopped"] == old
    assert "watcher.worker.stop" in harness.topics()  # a stop + start, not an overlap
    before = {w.name: w.pids for w in harness.arbiter.watchers}
    reply = await call("reload", waiting=True, graceful=True, sequential=False)
    assert fields(reply) == {}
    for watcher in harness.arbiter.watchers:
        assert not set(watcher.pids) & set(before[watcher.name])
    missing = await call("reload", name="ghost")
    assert (missing["errno"], missing["reason"]) == (3, "program ghost not found")


async def test_quit_stops_everything(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    pids = [p for w in harness.arbiter.watchers for p in w.pids]
    reply = await ctl(harness)("quit", waiting=True)
    assert fields(reply) == {}
    assert harness.arbiter.quitting
    assert all(w.status() == "stopped" for w in harness.arbiter.watchers)
    assert not any(pid_exists_not_zombie(p) for p in pids)


async def test_bad_property_types(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(*_watchers())
    reply = await ctl(harness)("reload", name="web", graceful="maybe")
    assert reply["errno"] == 3 and "graceful" in reply["reason"]
    reply = await ctl(harness)("start", name=5)
    assert reply["errno"] == 3 and "'name'" in reply["reason"]


