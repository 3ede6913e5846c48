"""Health checks: processes become ready when their probe passes, unhealthy ones are restarted."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from circus._watching.probes import ProbeResult, run_probe
from circus._watching.reaper import Reaper
from circus.config._check import probe_spec
from circus.watcher import Watcher
from conftest import EventLog, apoll, pid_exists_not_zombie, python_cmd

from ._health_servers import http_server, port_prefix, tcp_server
from .conftest import fields

FAST: dict[str, Any] = {"check_interval": 0.2, "check_timeout": 0.5, "check_retries": 2}


async def test_tcp_check_makes_processes_ready_once_they_listen(
    make_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    prefix = port_prefix()
    web = Watcher("web", tcp_server(prefix, 0.8, tmp_path / "never"), numprocesses=2,
                  check=f"tcp://127.0.0.1:{prefix}$(circus.wid)", check_interval=0.2,
                  check_timeout=2, check_retries=3)
    harness = await make_arbiter(web, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    call = ctl(harness)
    pids = web.pids
    assert len(pids) == 2
    # Listening only 0.8 s after the spawn: still starting.
    reply = await call("list", name="web")
    assert reply["pids"] == pids
    assert reply["health"] == {str(pid): "starting" for pid in pids}

    await apoll(lambda: len(log.of("watcher.web.ready")) == 2, timeout=10)
    ready = {payload["process_pid"]: payload for _, payload in log.of("watcher.web.ready")}
    assert sorted(ready) == sorted(pids)
    spawned = {p["process_pid"]: p["time"] for _, p in log.of("watcher.web.spawn")}
    for pid, payload in ready.items():
        assert set(payload) == {"process_pid", "time"}
        assert payload["time"] - spawned[pid] >= 0.7  # not before the server listened

    assert (await call("list", name="web"))["health"] == {str(pid): "ready" for pid in pids}
    reply = await call("status", name="web", verbose=True)
    assert reply["health"] == {str(pid): "ready" for pid in pids}
    assert not log.of("watcher.web.unhealthy")


async def test_unchecked_watcher_is_ready_at_spawn_and_list_stays_upstreams(
    make_arbiter: Any, ctl: Any
) -> None:
    calm = Watcher("calm", "sleep 60", numprocesses=2, graceful_timeout=5)
    harness = await make_arbiter(calm)
    call = ctl(harness)
    assert fields(await call("list", name="calm")) == {"pids": calm.pids}
    assert fields(await call("status", name="calm")) == {}
    reply = await call("status", name="calm", verbose=True)
    assert reply["health"] == {str(pid): "ready" for pid in calm.pids}
    reply = await call("status", verbose=True)
    assert reply["health"] == {"calm": {str(pid): "ready" for pid in calm.pids}}
    assert "health" not in await call("status")


async def test_unhealthy_process_is_restarted_with_the_probe_output(
    make_arbiter: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="circus")
    prefix = port_prefix()
    status = tmp_path / "status"
    status.write_text("200 OK")
    web = Watcher("web", http_server(prefix, status), numprocesses=1, graceful_timeout=5,
                  check=f"http://127.0.0.1:{prefix}$(circus.wid)/health", **FAST)
    harness = await make_arbiter(web, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    await apoll(lambda: log.of("watcher.web.ready"), timeout=10)
    [first] = web.pids

    status.write_text("503 Service Unavailable")
    _, event = (await apoll(lambda: log.of("watcher.web.unhealthy"), timeout=10))[0]
    assert set(event) == {"process_pid", "output", "failures", "time"}
    assert event["process_pid"] == first
    assert event["failures"] == 2
    assert "HTTP/1.0 503 Service Unavailable" in event["output"]
    assert "body says 503" in event["output"]
    line = next(r.getMessage() for r in caplog.records if "unhealthy" in r.getMessage())
    assert f"pid {first}" in line and "503 Service Unavailable" in line

    # Restarted: stopped as a stop would (a commanded death), and replaced.
    await apoll(lambda: not pid_exists_not_zombie(first) and web.pids and web.pids != [first])
    reaped = [p for _, p in log.of("watcher.web.reap") if p["process_pid"] == first]
    assert reaped and reaped[0]["commanded"] is True
    assert web.health_states() == {str(web.pids[0]): "starting"}  # still 503
    status.write_text("200 OK")
    await apoll(lambda: web.health_states() == {str(web.pids[0]): "ready"}, timeout=10)


async def test_exec_check_output_and_exit_code(make_arbiter: Any, tmp_path: Path) -> None:
    flag = tmp_path / "healthy"
    flag.write_text("yes")
    probe = python_cmd("import os, sys\n"
                       f"ok = os.path.exists({str(flag)!r})\n"
                       "print('probe says', 'fine' if ok else 'flag is gone')\n"
                       "sys.exit(0 if ok else 3)")
    worker = Watcher("worker", "sleep 60", graceful_timeout=5, check=f"exec:{probe}", **FAST)
    harness = await make_arbiter(worker, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    await apoll(lambda: log.of("watcher.worker.ready"), timeout=10)
    assert worker.health.last_output(worker.pids[0]) == "probe says fine"

    flag.unlink()
    _, event = (await apoll(lambda: log.of("watcher.worker.unhealthy"), timeout=10))[0]
    assert event["output"].startswith("exec ")
    assert "exit 3" in event["output"] and "probe says flag is gone" in event["output"]


async def test_exec_probe_past_its_timeout_is_killed_and_reaped(
    make_arbiter: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "probe-pids"
    # Each probe notes its pid, then hangs well past check_timeout.
    probe = python_cmd(f"import os, time\nopen({str(marker)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                       "time.sleep(60)")
    worker = Watcher("worker", "sleep 60", graceful_timeout=5, check=f"exec:{probe}",
                     check_interval=0.2, check_timeout=0.4, check_retries=2)
    harness = await make_arbiter(worker, start=False)
    log = EventLog(harness.arbiter.events)
    await harness.arbiter.start()
    first = worker.pids[0]
    # Never ready: unhealthy once its ready window (0.8 s) is over, then replaced.
    _, event = (await apoll(lambda: log.of("watcher.worker.unhealthy"), timeout=10))[0]
    assert event["process_pid"] == first
    assert "not ready within 0.8s" in event["output"]
    assert "no exit within 0.4s" in event["output"]
    # The next process's probes time out too.
    await apoll(lambda: len(marker.read_text().split()) >= 3, timeout=10)
    probes = [int(pid) for pid in marker.read_text().split()]
    # Every probe that timed out was killed and reaped: no zombie, no orphan
    # (the running one, if any, goes with the watcher; the leak guard checks).
    await harness.arbiter.stop()
    for pid in probes:  # gone from the process table: reaped, not a zombie
        await apoll(lambda pid=pid: not os.path.exists(f"/proc/{pid}"), timeout=5)


async def test_check_options_are_reported_and_settable(
    make_arbiter: Any, ctl: Any, tmp_path: Path
) -> None:
    prefix = port_prefix()
    web = Watcher("web", tcp_server(prefix, 0, tmp_path / "never"), graceful_timeout=5)
    harness = await make_arbiter(web, Watcher("db", "sleep 60", graceful_timeout=5))
    call = ctl(harness)
    options = (await call("options", name="web"))["options"]
    assert options["check"] is None
    assert (options["check_interval"], options["check_timeout"], options["check_retries"]) == (
        5.0, 3.0, 3)
    assert options["depends_on"] == []

    check = f"tcp://127.0.0.1:{prefix}$(circus.wid)"
    reply = await call("set", name="web", options={"check": check, "check_interval": 0.2},
                       waiting=True)
    assert reply["status"] == "ok", reply
    got = (await call("get", name="web", keys=["check", "check_interval"]))["options"]
    assert got == {"check": check, "check_interval": 0.2}
    # The running process starts over as starting, and gets ready under the new check.
    await apoll(lambda: web.health_states() == {str(web.pids[0]): "ready"}, timeout=10)
    assert "health" in await call("list", name="web")

    reply = await call("set", name="web", options={"check": "ftp://nowhere"})
    assert reply["status"] == "error" and reply["errno"] == 3
    assert "check" in reply["reason"] and "tcp://HOST:PORT" in reply["reason"]
    reply = await call("set", name="web", options={"depends_on": "db"})
    assert reply["status"] == "error" and "depends_on" in reply["reason"]
    reply = await call("add", name="late", cmd="sleep 60", options={"depends_on": "nobody"})
    assert reply["status"] == "error" and "unknown watcher 'nobody'" in reply["reason"]


def test_bad_check_values_name_the_watcher() -> None:
    with pytest.raises(ValueError, match=r"watcher w: check: expected tcp://HOST:PORT"):
        Watcher("w", "sleep 1", check="udp://x:1")
    with pytest.raises(ValueError, match="check_retries must be >= 1"):
        Watcher("w", "sleep 1", check="tcp://x:1", check_retries=0)
    with pytest.raises(ValueError, match=r"circular depends_on: w -> w"):
        Watcher("w", "sleep 1", depends_on="w")



async def test_probes_by_host_name_and_their_failures() -> None:
    loop = asyncio.get_running_loop()
    reaper = Reaper(loop)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ok = await run_probe(probe_spec(f"tcp://localhost:{port}"), 2, reaper=reaper)
        assert ok == ProbeResult(True, f"tcp localhost:{port}: connected")
        # The server closes at once without an answer: no HTTP status line.
        bad = await run_probe(probe_spec(f"http://127.0.0.1:{port}/x"), 2, reaper=reaper)
        assert not bad.ok and "not an HTTP answer" in bad.output
    finally:
        server.close()
        await server.wait_closed()
    refused = await run_probe(probe_spec(f"tcp://127.0.0.1:{port}"), 2, reaper=reaper)
    assert not refused.ok and "tcp 127.0.0.1:" in refused.output
    missing = await run_probe(probe_spec("exec:/nonexistent/probe"), 2, reaper=reaper)
    assert not missing.ok and "cannot start" in missing.output
    reaper.close()
