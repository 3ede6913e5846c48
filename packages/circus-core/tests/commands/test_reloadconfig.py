"""reloadconfig applies the minimal difference between the loaded file and the new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import fields

BASE = """
[circus]
check_delay = 5

[watcher:keep]
cmd = sleep 60
graceful_timeout = 5

[watcher:grow]
cmd = sleep 60
graceful_timeout = 5

[watcher:live]
cmd = sleep 60
graceful_timeout = 5

[watcher:hard]
cmd = sleep 60
graceful_timeout = 5

[watcher:gone]
cmd = sleep 60
graceful_timeout = 5
"""

NEW = """
[circus]
check_delay = 2
loglevel = warning

[watcher:keep]
cmd = sleep 60
graceful_timeout = 5

[watcher:grow]
cmd = sleep 60
graceful_timeout = 5
numprocesses = 3

[watcher:live]
cmd = sleep 61
graceful_timeout = 2

[watcher:hard]
cmd = sleep 60
graceful_timeout = 5
use_sockets = true

[watcher:fresh]
cmd = sleep 60
graceful_timeout = 5
"""


async def test_reloadconfig_minimal_diff(config_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    harness = await config_arbiter(BASE)
    arbiter = harness.arbiter
    call = ctl(harness)
    await call("add", name="runtime", cmd="sleep 60", start=True, waiting=True)
    before = {w.name: (w, w.pids) for w in arbiter.watchers}
    (tmp_path / "circus.ini").write_text(NEW)
    reply = await call("reloadconfig", waiting=True)
    assert fields(reply) == {}
    names = sorted(w.name for w in arbiter.watchers)
    assert names == ["fresh", "grow", "hard", "keep", "live", "runtime"]
    keep, keep_pids = before["keep"]
    assert arbiter.get_watcher("keep") is keep and keep.pids == keep_pids  # untouched
    grow, grow_pids = before["grow"]
    assert arbiter.get_watcher("grow") is grow and len(grow.pids) == 3
    assert set(grow_pids) <= set(grow.pids)  # adjusted in place
    live, live_pids = before["live"]
    assert arbiter.get_watcher("live") is live and live.graceful_timeout == 2
    assert live.cmd == "sleep 61" and not set(live.pids) & set(live_pids)  # reloaded
    hard = arbiter.get_watcher("hard")
    assert hard is not before["hard"][0] and hard.use_sockets and hard.status() == "active"
    assert arbiter.get_watcher("fresh").status() == "active"
    runtime, runtime_pids = before["runtime"]
    assert arbiter.get_watcher("runtime") is runtime and runtime.pids == runtime_pids
    assert before["gone"][0].status() == "stopped"
    assert arbiter.check_delay == 2 and arbiter.loglevel == "warning"
    # No add/remove events for reloadconfig changes, and no updated events either.
    topics = harness.topics()
    assert topics.count("watcher.runtime.add") == 1
    assert not [t for t in topics if t.endswith((".remove", ".updated"))
                or t == "watcher.fresh.add"]
    # A second reload with the same file changes nothing.
    pids = {w.name: w.pids for w in arbiter.watchers}
    await call("reloadconfig", waiting=True)
    assert {w.name: w.pids for w in arbiter.watchers} == pids


async def test_reloadconfig_file_naming_runtime_watcher_wins(config_arbiter: Any, ctl: Any,
                                                             tmp_path: Path) -> None:
    harness = await config_arbiter(BASE)
    call = ctl(harness)
    await call("add", name="Extra", cmd="sleep 60", start=True, waiting=True)
    (tmp_path / "circus.ini").write_text(BASE + "\n[watcher:extra]\ncmd = sleep 62\n")
    await call("reloadconfig", waiting=True)
    extra = harness.arbiter.get_watcher("extra")
    assert extra.cmd == "sleep 62" and extra.status() == "active"
    assert sum(w.name.lower() == "extra" for w in harness.arbiter.watchers) == 1


async def test_reloadconfig_broken_file_changes_nothing(config_arbiter: Any, ctl: Any,
                                                        tmp_path: Path) -> None:
    harness = await config_arbiter(BASE)
    pids = {w.name: w.pids for w in harness.arbiter.watchers}
    (tmp_path / "circus.ini").write_text(BASE + "\n[watcher:bad]\ncmd = x\nnumprocesses = two\n")
    reply = await ctl(harness)("reloadconfig", waiting=False)
    assert (reply["status"], reply["errno"]) == ("error", 3)
    assert "numprocesses" in reply["reason"] and "circus.ini" in reply["reason"]
    assert {w.name: w.pids for w in harness.arbiter.watchers} == pids


async def test_reloadconfig_without_file(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter()
    reply = await ctl(harness)("reloadconfig", waiting=True)
    assert reply["errno"] == 3 and "config file" in reply["reason"]
