"""Pure pieces: topic parsing, pid tracking and the wire formats."""

from __future__ import annotations

import os

from circus.client.protocol import cpu_clock, human_bytes
from circus.stats._report import aggregate
from circus.stats._sampler import ProcfsSampler, PsutilSampler, unreadable
from circus.stats._tracker import PidTracker, parse_topic


def test_topic_parser_keeps_dotted_watcher_names() -> None:
    assert parse_topic("watcher.web.spawn") == ("web", "spawn")
    assert parse_topic("watcher.api.v2.reap") == ("api.v2", "reap")
    assert parse_topic("watcher.plugin:flapping.kill") == ("plugin:flapping", "kill")
    assert parse_topic("watcher.spawn") is None
    assert parse_topic("stat.web") is None


def test_tracker_follows_events_and_counts_restarts() -> None:
    tracker = PidTracker()
    assert tracker.apply("watcher.a.b.spawn", {"process_pid": 10})
    tracker.apply("watcher.a.b.spawn", {"process_pid": 11})
    tracker.apply("watcher.a.b.kill", {"process_pid": 10})
    tracker.apply("watcher.a.b.reap", {"process_pid": 10, "exit_code": -15})
    tracker.apply("watcher.a.b.reap", {"process_pid": 11, "exit_code": 3})
    assert tracker.pids["a.b"] == {}
    assert tracker.restarts["a.b"] == 1  # only 11 died on its own
    assert tracker.last_exit_code["a.b"] == 3
    assert not tracker.apply("watcher.a.spawn", {"process_pid": "x"})
    tracker.apply("watcher.new.add", {})
    assert "new" in tracker.wanted
    tracker.apply("watcher.a.b.remove", {})
    assert "a.b" not in tracker.pids


def test_list_reply_is_merged_with_events_seen_meanwhile() -> None:
    tracker = PidTracker()
    tracker.begin_sync("w")
    tracker.apply("watcher.w.spawn", {"process_pid": 3})
    tracker.apply("watcher.w.kill", {"process_pid": 1})
    tracker.end_sync("w", [1, 2])
    assert list(tracker.pids["w"]) == [2, 3]


def test_wire_formats() -> None:
    assert human_bytes(512) == "512B"
    assert human_bytes(1536) == "1.50K"
    assert human_bytes(int(25.34 * 1024 * 1024)) == "25.34M"
    assert human_bytes(3 * 1024**3) == "3.00G"
    assert cpu_clock(0.17) == "0:00.17"
    assert cpu_clock(754.5) == "12:34.50"


def test_aggregate_marks_unreadable_fields() -> None:
    mine = ProcfsSampler().sample(os.getpid(), 0.0, 0.0)
    assert mine is not None
    assert aggregate([1], [mine])["cpu"] == 0.0
    assert aggregate([1, 2], [mine, unreadable(2)]) == {
        "pid": [1, 2], "cpu": "N/A", "mem": "N/A", "age": "N/A"}
    assert aggregate([], []) == {"pid": [], "cpu": 0.0, "mem": 0.0, "age": 0.0}


def test_psutil_fallback_gives_the_same_keys() -> None:
    import json

    wall = 1e10
    fast, slow = ProcfsSampler().sample(os.getpid(), wall, 1.0), PsutilSampler().sample(
        os.getpid(), wall, 1.0)
    assert fast is not None and slow is not None
    fast_info, slow_info = json.loads(fast.body + "}"), json.loads(slow.body + "}")
    assert list(fast_info) == list(slow_info)
    assert fast_info["create_time"] == slow_info["create_time"]
    assert fast_info["cmdline"] == slow_info["cmdline"]


def test_tracker_readiness_from_list_replies_and_events() -> None:
    assert not PidTracker().reports_health
    tracker = PidTracker()
    tracker.begin_sync("web")
    tracker.apply("watcher.web.spawn", {"process_pid": 3})  # during the call: newer
    tracker.apply("watcher.web.ready", {"process_pid": 1})
    tracker.apply("watcher.web.kill", {"process_pid": 2})
    tracker.end_sync("web", [1, 2, 4], {"1": "starting", "2": "ready", "4": "bogus"})
    assert tracker.pids["web"] == {1: "ready", 4: "starting", 3: "starting"}
    assert "web" in tracker.checked and tracker.reports_health
    tracker.apply("watcher.web.spawn", {"process_pid": 5})
    assert tracker.pids["web"][5] == "starting"
    tracker.apply("watcher.web.unhealthy", {"process_pid": 5, "output": "x", "failures": 3})
    tracker.apply("watcher.web.unhealthy", {"process_pid": 99})  # gone already: counted only
    assert tracker.pids["web"][5] == "unhealthy" and 99 not in tracker.pids["web"]
    assert tracker.unhealthy["web"] == 2
    assert not tracker.apply("watcher.web.ready", {"process_pid": True})
    # Without a check, a process is ready from its spawn.
    tracker.end_sync("plain", [7], None)
    tracker.apply("watcher.plain.spawn", {"process_pid": 8})
    assert tracker.pids["plain"] == {7: "ready", 8: "ready"}
    # A changed check option: the watcher's pids are learned again.
    tracker.apply("watcher.plain.updated", {"key": "check"})
    assert "plain" in tracker.wanted
    tracker.apply("watcher.web.remove", {})
    assert "web" not in tracker.checked and "web" not in tracker.unhealthy


def test_readiness_is_reported_only_when_status_says_so() -> None:
    ours, upstream = PidTracker(), PidTracker()
    ours.learn_reports_health({"statuses": {}, "health": {}})
    upstream.learn_reports_health({"statuses": {}})
    assert (ours.reports_health, upstream.reports_health) == (True, False)
