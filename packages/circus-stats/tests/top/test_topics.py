"""Topic parsing: who a stats message is about, dotted watcher names included."""

from __future__ import annotations

import pytest
from circus.top import Topic, parse_topic


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("stat.web.123", {"pid": 123}, Topic("web", 123)),
        ("stat.web", {"pid": [1, 2]}, Topic("web", None)),
        ("stat.my.dotted.app.77", {"pid": 77}, Topic("my.dotted.app", 77)),
        ("stat.my.dotted.app", {"pid": [77]}, Topic("my.dotted.app", None)),
        # Only an aggregate carries a list of pids: this is watcher "web.2", not pid 2.
        ("stat.web.2", {"pid": [9, 10]}, Topic("web.2", None)),
        ("stat.circus.42", {"pid": 42, "name": "circusd"}, Topic("circus", 42)),
        ("stat.sockets.5", {"fd": 5}, Topic("sockets", 5)),
        ("stat.sockets", {"addresses": []}, Topic("sockets", None)),
        ("stat.web.v2", {}, Topic("web.v2", None)),
        ("stat.12", {"pid": []}, Topic("12", None)),
    ],
)
def test_topics_name_the_owner_and_the_pid(topic, payload, expected):
    assert parse_topic(topic, payload) == expected


@pytest.mark.parametrize("topic", ["stat.", "stat..12", "stats.web.1", "watcher.web.spawn",
                                   "stat.web."])
def test_topics_that_are_not_stats_are_refused(topic):
    assert parse_topic(topic, {}) is None
