"""Reloads of a checked watcher: the old generation goes only once the new one is ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from circus.watcher import Watcher
from conftest import ArbiterHarness, EventLog, apoll, pid_exists_not_zombie

from ._health_servers import port_prefix, tcp_server


def checked_web(prefix: str, never: Path, numprocesses: int = 2) -> Watcher:
    return Watcher("web", tcp_server(prefix, 0.4, never), numprocesses=numprocesses,
                   graceful_timeout=5, check=f"tcp://127.0.0.1:{prefix}$(circus.wid)",
                   check_interval=0.2, check_timeout=0.75, check_retries=2)


async def started_logged(make_arbiter: Any, web: Watcher) -> tuple[ArbiterHarness, EventLog]:
    """An arbiter running ``web``, with every event logged from before the start; once ready."""
    harness = await make_arbiter(web, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    await apoll(web.health.all_ready, timeout=10)
    return harness, log


async def test_reload_retires_the_old_processes_only_once_the_new_are_ready(
    make_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    web = checked_web(port_prefix(), tmp_path / "never")
    harness, log = await started_logged(make_arbiter, web)
    old = web.pids
    mark = len(log.entries)

    reply = await ctl(harness)("reload", name="web", waiting=True)
    assert reply["status"] == "ok", reply
    new = web.pids
    assert len(new) == 2 and not set(new) & set(old)
    after = log.entries[mark:]
    ready_at = [at for at, topic, p in after
                if topic == "watcher.web.ready" and p["process_pid"] in new]
    killed_at = [at for at, topic, p in after
                 if topic == "watcher.web.kill" and p["process_pid"] in old]
    assert len(ready_at) == 2 and len(killed_at) == 2
    # The servers listen 0.4 s after their spawn: an ungated reload kills the
    # old ones long before that.
    assert max(ready_at) <= min(killed_at)


async def test_reload_rolls_back_when_the_new_generation_never_gets_ready(
    make_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    never = tmp_path / "never"
    web = checked_web(port_prefix(), never)
    harness, log = await started_logged(make_arbiter, web)
    old = web.pids
    mark = len(log.entries)

    never.write_text("")  # processes started from now on never listen
    reply = await ctl(harness)("reload", name="web", waiting=True)
    assert reply["status"] == "error" and reply["errno"] == 5
    reason = reply["reason"]
    assert reason.startswith("reload of watcher web rolled back, the 2 old processes keep "
                             "serving: 2 new process(es) not ready within 1.5s"), reason
    assert "Connect call failed" in reason

    spawned = [p["process_pid"] for _, t, p in log.entries[mark:] if t == "watcher.web.spawn"]
    assert len(spawned) == 2
    assert web.pids == old and all(pid_exists_not_zombie(pid) for pid in old)
    await apoll(lambda: not any(pid_exists_not_zombie(pid) for pid in spawned))
    assert web.status() == "active"
    assert web.health_states() == {str(pid): "ready" for pid in old}
    assert not [t for _, t, _ in log.entries[mark:] if t == "watcher.web.reload"]


async def test_reloadconfig_of_a_new_command_is_gated_too(
    config_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    never = tmp_path / "never"
    prefix = port_prefix()
    config = """
[watcher:web]
cmd = {cmd}
numprocesses = 2
graceful_timeout = 5
check = tcp://127.0.0.1:{prefix}$(circus.wid)
check_interval = 0.2
check_timeout = 0.75
check_retries = 2
"""
    harness = await config_arbiter(config.format(cmd=tcp_server(prefix, 0.4, never),
                                                 prefix=prefix))
    web = harness.watcher("web")
    await apoll(web.health.all_ready, timeout=10)
    old, old_cmd = web.pids, web.cmd

    never.write_text("")
    extra = "\n[watcher:extra]\ncmd = sleep 60\ngraceful_timeout = 5\n"
    (tmp_path / "circus.ini").write_text(config.format(cmd=tcp_server(prefix, 0.3, never),
                                                       prefix=prefix) + extra)
    reply = await ctl(harness)("reloadconfig", waiting=True)
    assert reply["status"] == "error", reply
    assert "reload of watcher web rolled back" in reply["reason"]
    # The rest of the file is applied all the same.
    assert harness.watcher("extra").status() == "active"
    assert web.pids == old and all(pid_exists_not_zombie(pid) for pid in old)
    # A respawn of the old generation uses the command that works.
    assert web.cmd == old_cmd


async def test_sequential_reload_waits_for_each_replacement(
    make_arbiter: Any, tmp_path: Path
) -> None:
    web = checked_web(port_prefix(), tmp_path / "never")
    _, log = await started_logged(make_arbiter, web)
    old = web.pids
    mark = len(log.entries)

    await web.reload(sequential=True)
    kinds = [(topic.rsplit(".", 1)[1], p.get("process_pid")) for _, topic, p in
             log.entries[mark:] if topic.rsplit(".", 1)[1] in ("kill", "spawn", "ready")]
    # Each replacement is ready before the next old process is stopped.
    assert [kind for kind, _ in kinds] == ["kill", "spawn", "ready"] * 2
    assert [pid for kind, pid in kinds if kind == "kill"] == old


async def test_reload_of_everything_goes_on_past_a_rolled_back_watcher(
    make_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    never = tmp_path / "never"
    web = checked_web(port_prefix(), never, numprocesses=1)
    web.priority = 10  # reloaded first
    other = Watcher("other", "sleep 60", graceful_timeout=5)
    harness = await make_arbiter(web, other)
    await apoll(web.health.all_ready, timeout=10)
    old_web, old_other = web.pids, other.pids

    never.write_text("")
    reply = await ctl(harness)("reload", waiting=True)
    assert reply["status"] == "error" and "reload of watcher web rolled back" in reply["reason"]
    assert web.pids == old_web
    assert other.pids and other.pids != old_other
