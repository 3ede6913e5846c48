"""The stats benchmark: what circusd-stats costs with N processes to report on.

* ``stats-cpu``: both circus daemons run the same config: ``statsd = True``
  and one watcher of N ``sleep`` processes. Once circusd-stats publishes a
  ``stat.sleepers.<pid>`` message for every sleeper, a subscriber (standing in
  for circus-top) keeps reading the stats channel while the bench measures,
  over the same window, the CPU time of the circusd-stats process and of the
  daemon (which answers circusd-stats's requests), and the messages received.
  The default 1 s interval of both aggregators is used.

Results are reported, never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import zmq
from _daemons import DaemonSpec, RunningDaemon, launch, with_ini
from scenarios import Result, ScenarioError, workdir

STATS_CPU = "stats-cpu"
STATS = (STATS_CPU,)
WATCHER = "sleepers"
SLEEP = shutil.which("sleep") or "/bin/sleep"
UPSTREAM_CHECK_DELAY = 5.0  # circus 0.19's default


def stats_config(spec: DaemonSpec, wd: Path, n: int, extra: tuple[str, ...] = ()) -> str:
    """circus.ini: statsd on, ipc endpoints in ``wd``, one watcher of ``n`` sleepers.

    ``extra`` lines go to ``[circus]`` (the CURVE bench adds its key options).
    """
    lines = ["[circus]", "loglevel = info", f"logoutput = {wd / 'daemon.log'}",
             "warmup_delay = 0", "statsd = True",
             f"endpoint = ipc://{wd / 'ctl.sock'}",
             f"pubsub_endpoint = ipc://{wd / 'pub.sock'}",
             f"stats_endpoint = ipc://{wd / 'stats.sock'}"]
    lines += extra
    if spec.kind == "circus":
        delay = UPSTREAM_CHECK_DELAY if spec.check_delay is None else spec.check_delay
        lines.append(f"check_delay = {delay}")
    lines += ["", f"[watcher:{WATCHER}]", f"cmd = {SLEEP} 3600", f"numprocesses = {n}",
              "warmup_delay = 0", "graceful_timeout = 10"]
    return "\n".join(lines) + "\n"


def _stats_process(daemon: RunningDaemon) -> psutil.Process | None:
    for pid in daemon.children():
        try:
            proc = psutil.Process(pid)
            if any("stats" in part for part in proc.cmdline()):
                return proc
        except psutil.Error:
            continue
    return None


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class _Subscriber:
    """A SUB on the stats channel that counts messages and per-pid topics of WATCHER."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str,
                 secure: Callable[[zmq.Socket[bytes]], None] | None = None) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if secure is not None:
            secure(self.sock)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"stat.")
        self.sock.connect(endpoint)
        self.messages = 0
        self.pids: set[str] = set()

    def drain_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        prefix = f"stat.{WATCHER}.".encode()
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000) + 1):
                continue
            while True:
                try:
                    topic, body = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.messages += 1
                if topic.startswith(prefix):
                    json.loads(body)  # what a real consumer pays is not ours to count
                    self.pids.add(topic[len(prefix):].decode())

    def close(self) -> None:
        self.sock.close()


def run_stats_cpu(spec: DaemonSpec, n: int, *, seconds: float = 10.0,
                  start_timeout: float = 180.0, extra: tuple[str, ...] = (),
                  secure: Callable[[zmq.Socket[bytes]], None] | None = None) -> Result:
    """Run ``n`` sleepers with statsd on; measure circusd-stats's CPU over ``seconds``.

    ``extra``: more ``[circus]`` lines; ``secure``: applied to the subscriber
    before it connects (both for the CURVE bench).
    """
    result: Result = {"n": n, "loadavg_1m": os.getloadavg()[0]}
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        with workdir(spec.label) as wd:
            ini = stats_config(spec, wd, n, extra)
            with launch(with_ini(spec, ini), wd, []) as daemon:
                sub = _Subscriber(ctx, f"ipc://{wd / 'stats.sock'}", secure)
                try:
                    began = time.monotonic()
                    # Every sleeper reported: circusd-stats has caught up with the start.
                    while len(sub.pids) < n:
                        if not daemon.alive():
                            raise ScenarioError(daemon.describe_death())
                        if time.monotonic() - began > start_timeout:
                            raise ScenarioError(
                                f"only {len(sub.pids)}/{n} sleepers reported on the stats "
                                f"channel after {start_timeout:.0f}s")
                        sub.drain_for(0.5)
                    result["all_reported_after_s"] = round(time.monotonic() - began, 2)
                    stats = _stats_process(daemon)
                    if stats is None:
                        raise ScenarioError("no circusd-stats child found")
                    main = psutil.Process(daemon.pid)
                    sub.drain_for(2.0)  # settle: the first ticks also warm caches
                    sub.messages = 0
                    stats_before, daemon_before = _cpu_seconds(stats), _cpu_seconds(main)
                    t0 = time.monotonic()
                    sub.drain_for(seconds)
                    elapsed = time.monotonic() - t0
                    result["stats_cpu_pct"] = (_cpu_seconds(stats) - stats_before) / elapsed * 100
                    result["daemon_cpu_pct"] = (_cpu_seconds(main) - daemon_before) / elapsed * 100
                    result["messages_per_s"] = sub.messages / elapsed
                    result["stats_rss_mb"] = stats.memory_info().rss / 2**20
                finally:
                    sub.close()
    finally:
        ctx.term()
    return result
