"""Crash-loop scenarios: a pool that recovers after an outage, and what backoff costs.

``recovery``: 20 processes need a file that is missing for the first
``outage`` seconds after the daemon's launch (they exit 1 at once without
it), then it is created. Measured: the seconds from the file's creation until
all 20 run again (``sleep`` exec'd), and from the launch. Default settings on
every daemon: nothing about retries is configured. Run with a 3 s and a 30 s
outage.

``backoff`` (ours only): one crasher (``retry_in = 0.05``) whose respawn gaps
are compared with the delay announced in its ``backoff`` events (how late a
respawn is past its backoff), then a watcher retrying a missing binary with no
backoff at all, during which ``status`` round trips are timed (how responsive
the daemon stays in the worst crash loop).
"""

from __future__ import annotations

import json
import time
from typing import Any

import _ctl_client as ctl
import zmq
from _daemons import DaemonSpec, Program, launch, with_ini
from scenarios import POLL, SH, Result, ScenarioError, StartWatch, _check_alive, workdir

RECOVERY = "recovery"
BACKOFF = "backoff"
SCENARIOS = (RECOVERY, BACKOFF)
RECOVERY_PROCS = 20
OUTAGES = (3.0, 30.0)  # seconds the needed file is missing after the launch


def run_recovery(spec: DaemonSpec, *, outage: float, procs: int = RECOVERY_PROCS,
                 timeout: float = 120.0) -> Result:
    """Seconds until ``procs`` crashers run again once their missing file appears."""
    with workdir(spec.label) as wd:
        needed = wd / "database-is-up"
        argv = [SH, "-c", f"test -e {needed} || exit 1; exec sleep 3600"]
        with launch(spec, wd, [Program("pool", argv, procs)]) as daemon:
            while time.monotonic() < daemon.launched + outage:
                _check_alive(daemon)
                time.sleep(POLL)
            needed.touch()
            appeared = time.monotonic()
            try:
                all_running, _ = StartWatch(daemon, procs).wait(timeout)
            except ScenarioError as exc:
                raise ScenarioError(f"{exc} ({outage:g} s outage)") from None
            gave_up = "giving up" in daemon.log_text()
        return {"outage_s": outage, "after_file_s": all_running - appeared,
                "after_launch_s": all_running - daemon.launched, "gave_up": gave_up}


def run_recovery_pair(spec: DaemonSpec) -> Result:
    """Both outages, one daemon run each; fields suffixed with the outage length."""
    result: Result = {}
    for outage in OUTAGES:
        one = run_recovery(spec, outage=outage)
        tag = f"{outage:g}s"
        result[f"after_file_{tag}"] = one["after_file_s"]
        result[f"after_launch_{tag}"] = one["after_launch_s"]
        result[f"gave_up_{tag}"] = one["gave_up"]
    return result


# -- the cost of backoff (ours only) --------------------------------------------------------

_CRASH_LOOPS = """\
[circus]
loglevel = info
logoutput = {wd}/daemon.log
endpoint = ipc://{wd}/ctl.sock
pubsub_endpoint = ipc://{wd}/pub.sock

[watcher:crasher]
cmd = {sh} -c 'exit 1'
retry_in = 0.05
min_uptime = 5
max_retry = -1

[watcher:broken]
cmd = {wd}/no-such-binary
backoff = false
max_retry = -1
autostart = false
"""


def _events(sub: zmq.Socket[bytes], until: float, want: int) -> list[tuple[float, str, Any]]:
    """(arrival, topic, payload) of events until ``want`` spawns arrived or ``until``."""
    got: list[tuple[float, str, Any]] = []
    spawns = 0
    while spawns < want and time.monotonic() < until:
        if sub.poll(100):
            topic, body = sub.recv_multipart()
            got.append((time.monotonic(), topic.decode(), json.loads(body)))
            spawns += topic.endswith(b".spawn")
    return got


def run_backoff(spec: DaemonSpec, *, respawns: int = 6, spin_seconds: float = 3.0) -> Result:
    """Respawn lateness past the announced backoff; ``status`` during a no-backoff loop."""
    with workdir(spec.label) as wd:
        ini = _CRASH_LOOPS.format(wd=wd, sh=SH)
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"watcher.crasher.")
        try:
            with launch(with_ini(spec, ini), wd, []) as daemon:
                endpoint = f"ipc://{wd}/ctl.sock"
                ctl.wait_ready(context, endpoint, 30, alive=lambda: _check_alive(daemon))
                sub.connect(f"ipc://{wd}/pub.sock")
                events = _events(sub, time.monotonic() + 60, respawns + 1)
                lateness = _lateness(events)
                dealer = ctl.Dealer(context, endpoint)
                try:
                    dealer.call("stop", {"name": "crasher", "waiting": True})
                    dealer.call("start", {"name": "broken", "waiting": True})
                    rtts = []
                    end = time.monotonic() + spin_seconds
                    while time.monotonic() < end:
                        rtts.append(dealer.call("status", {"name": "broken"})[1])
                    began = time.perf_counter()
                    dealer.call("stop", {"name": "broken", "waiting": True})
                    stop_s = time.perf_counter() - began
                finally:
                    dealer.close()
                _check_alive(daemon)
        finally:
            sub.close()
            context.term()
    if len(lateness) < respawns - 1:
        raise ScenarioError(f"only {len(lateness)} respawns of the crasher seen")
    return {"late_max_ms": 1000 * max(lateness), "late_mean_ms": 1000 * sum(lateness) /
            len(lateness), "respawns": len(lateness),
            **ctl.latency_stats("spin_status", rtts), "spin_stop_ms": 1000 * stop_s}


def _lateness(events: list[tuple[float, str, Any]]) -> list[float]:
    """For each backoff: seconds from its reap past the delay to the respawn."""
    late = []
    reap_at: float | None = None
    delay: float | None = None
    for at, topic, payload in events:
        if topic.endswith(".reap"):
            reap_at = at
        elif topic.endswith(".backoff"):
            delay = float(payload["delay"])
        elif topic.endswith(".spawn") and reap_at is not None and delay is not None:
            late.append(max(0.0, at - reap_at - delay))
            reap_at = delay = None
    return late


__all__ = ["BACKOFF", "OUTAGES", "RECOVERY", "SCENARIOS", "run_backoff", "run_recovery",
           "run_recovery_pair"]
