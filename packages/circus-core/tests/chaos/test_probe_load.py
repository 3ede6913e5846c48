"""Probe load: 1000 processes with a TCP check every second must not hog circusd.

Every process of one watcher is probed with ``check = tcp://...`` at
``check_interval = 1`` (one listener answers them all, so the figure is
circusd's side alone). Once all are ready, for 5 s: the probes answered a
second (the listener counts them), the arbiter's CPU share, the event loop's
lag (how late a 10 ms sleep wakes up: what every command waits behind) and
the time to build ``status --verbose``'s health map. The CPU share is
bounded; the lag is printed, not bounded, as it measures the machine's other
load as much as ours.
``CIRCUS_CHAOS_PROBED`` sets the number of processes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from circus.watcher import Watcher
from conftest import apoll

from ._chaos import latency_summary, report, seconds

PROCESSES = int(seconds("CIRCUS_CHAOS_PROBED", 1000))
MEASURE = 5.0
CPU_BOUND_PCT = 50.0

# Prints its port, then the number of connections accepted so far on each
# line read from stdin.
LISTENER = ("import select, socket, sys\n"
            "s = socket.socket()\n"
            "s.bind(('127.0.0.1', 0))\n"
            "s.listen(4096)\n"
            "print(s.getsockname()[1], flush=True)\n"
            "count = 0\n"
            "while True:\n"
            "    ready = select.select([s, sys.stdin], [], [])[0]\n"
            "    if s in ready:\n"
            "        s.accept()[0].close()\n"
            "        count += 1\n"
            "    if sys.stdin in ready:\n"
            "        sys.stdin.readline()\n"
            "        print(count, flush=True)\n")


def accepted(listener: subprocess.Popen[str]) -> int:
    assert listener.stdin is not None and listener.stdout is not None
    listener.stdin.write("\n")
    listener.stdin.flush()
    return int(listener.stdout.readline())


async def test_a_thousand_tcp_checks_a_second(make_arbiter: Callable[..., Any]) -> None:
    listener = subprocess.Popen([sys.executable, "-c", LISTENER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None
        port = int(listener.stdout.readline())
        watcher = Watcher("probed", "sleep 600", numprocesses=PROCESSES, graceful_timeout=5,
                          check=f"tcp://127.0.0.1:{port}", check_interval=1, check_timeout=3,
                          check_retries=3)
        await make_arbiter(watcher)
        started = time.monotonic()
        await apoll(watcher.health.all_ready, timeout=60)
        ready_after = time.monotonic() - started

        lags: list[float] = []
        handler: list[float] = []
        probes_before = accepted(listener)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        while time.monotonic() - wall_before < MEASURE:
            asked = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append((time.monotonic() - asked - 0.01) * 1000)
            asked = time.monotonic()
            states = watcher.health_states()
            handler.append((time.monotonic() - asked) * 1000)
        wall = time.monotonic() - wall_before
        cpu_pct = 100 * (time.process_time() - cpu_before) / wall
        probe_rate = (accepted(listener) - probes_before) / wall
        not_ready = [pid for pid, state in states.items() if state != "ready"]
        figures = {"processes": PROCESSES, "check_interval_s": 1,
                   "all_ready_after_s": round(ready_after, 2),
                   "probes_per_s": round(probe_rate), "cpu_pct_of_one_core":
                   round(cpu_pct, 1), "loop_lag": latency_summary(lags),
                   "health_states": latency_summary(handler), "not_ready": len(not_ready)}
        report("probe_load", figures)
        assert not not_ready
        assert probe_rate >= 0.8 * PROCESSES, figures  # every process, about once a second
        assert cpu_pct <= CPU_BOUND_PCT, figures
    finally:
        listener.kill()
        listener.wait()
        for pipe in (listener.stdin, listener.stdout):
            if pipe is not None:
                pipe.close()

