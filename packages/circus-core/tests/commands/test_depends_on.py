"""depends_on: a watcher starts only once the watchers it depends on are ready."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from circus.watcher import Watcher

from ._health_servers import port_prefix, tcp_server


def first(events: list[tuple[str, dict[str, Any]]], topic: str) -> dict[str, Any]:
    return next(payload for t, payload in events if t == topic)


async def test_dependents_spawn_after_their_dependency_is_ready(
    config_arbiter: Any, tmp_path: Path
) -> None:
    prefix = port_prefix()
    # web has the higher priority: without depends_on it would start first.
    harness = await config_arbiter(f"""
[watcher:web]
cmd = sleep 60
priority = 10
graceful_timeout = 5
depends_on = db

[watcher:db]
cmd = {tcp_server(prefix, 0.8, tmp_path / "never")}
check = tcp://127.0.0.1:{prefix}$(circus.wid)
check_interval = 0.2
check_timeout = 2

[watcher:other]
cmd = sleep 60
priority = 5
graceful_timeout = 5
""")
    events = harness.events
    db_spawn = first(events, "watcher.db.spawn")["time"]
    db_ready = first(events, "watcher.db.ready")["time"]
    web_spawn = first(events, "watcher.web.spawn")["time"]
    assert db_ready - db_spawn >= 0.7
    assert web_spawn >= db_ready
    # Priority still orders the rest: other (5) after web (10).
    topics = [t for t, _ in events if t.endswith(".spawn")]
    assert topics == ["watcher.db.spawn", "watcher.web.spawn", "watcher.other.spawn"]


async def test_start_pulls_a_stopped_dependency_in(
    config_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    prefix = port_prefix()
    harness = await config_arbiter(f"""
[watcher:web]
cmd = sleep 60
graceful_timeout = 5
depends_on = db
autostart = false

[watcher:db]
cmd = {tcp_server(prefix, 0.5, tmp_path / "never")}
check = tcp://127.0.0.1:{prefix}$(circus.wid)
check_interval = 0.2
check_timeout = 2
autostart = false
""")
    call = ctl(harness)
    assert harness.watcher("db").status() == "stopped"
    mark = len(harness.events)
    reply = await call("start", name="web", waiting=True)
    assert reply["status"] == "ok", reply
    events = harness.events[mark:]
    assert first(events, "watcher.web.spawn")["time"] >= first(events, "watcher.db.ready")["time"]
    assert harness.watcher("db").status() == "active"


async def test_a_dependency_that_never_gets_ready_keeps_the_dependent_stopped(
    make_arbiter: Any, ctl: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="circus")
    never = tmp_path / "never"
    never.write_text("")
    prefix = port_prefix()
    db = Watcher("db", tcp_server(prefix, 0, never), graceful_timeout=5,
                 check=f"tcp://127.0.0.1:{prefix}$(circus.wid)", check_interval=0.2,
                 check_timeout=0.3, check_retries=2)
    web = Watcher("web", "sleep 60", graceful_timeout=5, depends_on="db", priority=10)
    other = Watcher("other", "sleep 60", graceful_timeout=5)
    harness = await make_arbiter(db, web, other)
    # circusd's start goes on without web, and says why.
    assert web.status() == "stopped" and not web.pids
    assert other.status() == "active" and db.status() == "active"
    message = next(r.getMessage() for r in caplog.records if "not started" in r.getMessage())
    assert message.startswith("watcher web not started: db (depends_on) is not ready after 0.6s")

    reply = await ctl(harness)("start", name="web", waiting=True)
    assert reply["status"] == "error" and reply["errno"] == 5
    assert "watcher web not started: db (depends_on) is not ready" in reply["reason"]
    assert web.status() == "stopped" and not web.pids
