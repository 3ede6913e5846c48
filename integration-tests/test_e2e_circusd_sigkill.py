"""circusd killed with SIGKILL: its own workers die with it, papa-hosted ones live on.

circusd's orphan guard kills the process groups of the workers circusd spawned
itself (SIGTERM, SIGKILL 1 s later) once circusd is gone; the processes papa
hosts (``use_papa``) are never given to it, because they are meant to outlive
circusd. The test runs its own papa on a unix socket (``_papa_run``) and one
circusd with a plain watcher and a use_papa watcher, then SIGKILLs circusd.
"""

from __future__ import annotations

import json
import signal
import time

from _circus_run import CircusRun, alive
from _papa_run import PapaKernel, papa_config, sleeper, start

DEADLINE_S = 5.0
GRACE_S = 1.0


def test_sigkilled_circusd_takes_its_workers_and_leaves_papa_ones(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "sigkill", (
        f"[watcher:plain]\ncmd = {sleeper(circus_run)}\nnumprocesses = 3\n\n"
        f"[watcher:hosted]\ncmd = {sleeper(circus_run)}\nnumprocesses = 2\nuse_papa = true\n"))
    daemon = start(circus_run, config)
    plain = daemon.wait_pids("plain", 3)
    hosted = daemon.wait_pids("hosted", 2)
    assert sorted(papa_kernel.running().values()) == sorted(hosted)

    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=10)
    killed_at = time.monotonic()
    while any(alive(pid) for pid in plain) and time.monotonic() - killed_at < DEADLINE_S:
        time.sleep(0.01)
    plain_gone = time.monotonic() - killed_at
    # Past the guard's grace: anything it was going to kill is dead by now.
    time.sleep(max(0.0, GRACE_S + 0.5 - plain_gone))
    left = [pid for pid in plain if alive(pid)]
    hosted_alive = [pid for pid in hosted if alive(pid)]
    print("\ncircusd_sigkill_papa: " + json.dumps({
        "plain_workers": len(plain), "plain_left": len(left), "plain_gone_s": round(plain_gone, 3),
        "papa_workers": len(hosted), "papa_alive_after_s": round(time.monotonic() - killed_at, 3),
        "papa_alive": len(hosted_alive)}, sort_keys=True))
    assert left == [], f"circusd's own workers outlived it: {left}"
    assert hosted_alive == hosted, "papa-hosted workers were killed with circusd"
    assert sorted(papa_kernel.running().values()) == sorted(hosted)
