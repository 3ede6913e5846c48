"""Commands never fail because another one runs; per-watcher order is kept."""

from __future__ import annotations

import asyncio
from typing import Any

from circus.watcher import Watcher
from conftest import descendants


async def test_many_concurrent_mixed_commands(make_arbiter: Any, ctl: Any) -> None:
    names = ["a", "b", "c"]
    harness = await make_arbiter(*(Watcher(n, "sleep 60", graceful_timeout=5) for n in names))
    call = ctl(harness)
    requests = []
    for name in names:
        requests += [
            ("incr", {"name": name, "nb": 2, "waiting": True}),
            ("restart", {"name": name, "waiting": True}),
            ("decr", {"name": name, "waiting": True}),
            ("set", {"name": name, "options": {"numprocesses": 4}, "waiting": True}),
            ("reload", {"name": name, "waiting": True}),
            ("stop", {"name": name, "waiting": True}),
            ("start", {"name": name, "waiting": True}),
            ("decr", {"name": name, "nb": 1, "waiting": True}),
        ]
    requests += [("add", {"name": "d", "cmd": "sleep 60", "start": True, "waiting": True,
                          "options": {"graceful_timeout": 5}}),
                  ("stop", {"name": "*", "waiting": True}),
                  ("start", {"waiting": True}),
                  ("reload", {"waiting": True})]
    replies = await asyncio.gather(*(call(c, **p) for c, p in requests))
    assert all(r["status"] == "ok" for r in replies), replies
    by_request = dict(zip((f"{c}:{p.get('name')}:{i}" for i, (c, p) in enumerate(requests)),
                          replies, strict=True))
    # Same-watcher commands ran in the order they were sent.
    assert by_request["incr:a:0"]["numprocesses"] == 3
    assert by_request["decr:a:2"]["numprocesses"] == 2
    assert by_request["decr:a:7"]["numprocesses"] == 3
    for name in names:
        watcher = harness.watcher(name)
        assert watcher.status() == "active" and len(watcher.pids) == 3
    assert len(harness.watcher("d").pids) == 1
    # No process lost or duplicated: exactly the tracked ones run.
    tracked = {p for w in harness.arbiter.watchers for p in w.pids}
    running = {p.pid for p in descendants() if p.status() != "zombie"}
    assert tracked == running & tracked and len(tracked) == 10
    assert {p.pid for p in descendants() if p.name() == "sleep"} == tracked
