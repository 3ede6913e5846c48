"""Signal storm: 1000 SIGHUP/SIGUSR1/SIGCHLD in 1 s, then SIGTERM.

circusd must come out of it exiting 0 with nothing left behind, stopping the
watchers lowest priority first and honouring each one's graceful timeout:
``slow`` needs 0.6 s after its SIGTERM (graceful_timeout 5: never killed
early), ``stubborn`` ignores SIGTERM (graceful_timeout 1: killed after it).
Each worker appends ``<name> <pid> <event> <time>`` lines to events.log, so
what is checked is what the workers saw.
"""

from __future__ import annotations

import itertools
import random
import signal
import sys
import time
from pathlib import Path

from ._chaos import children, report, state

WORKER = """\
import os, signal, sys, time
name, mode = sys.argv[1], sys.argv[2]
def note(event):
    with open("events.log", "a") as handle:
        handle.write(f"{name} {os.getpid()} {event} {time.time():.6f}\\n")
def on_term(signum, frame):
    note("term")
    if mode == "stubborn":
        return
    if mode == "slow":
        time.sleep(0.6)
    note("done")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note("ready")
while True:
    time.sleep(0.2)
"""
# name -> (priority, numprocesses, mode, graceful_timeout)
WATCHERS = {"alpha": (10, 1, "plain", 3), "slow": (5, 2, "slow", 5),
            "stubborn": (3, 1, "stubborn", 1), "zulu": (1, 2, "plain", 3)}
STOP_ORDER = ["zulu", "stubborn", "slow", "alpha"]  # lowest priority first
SIGNALS = 1000


def _events(path: Path) -> list[tuple[str, int, str, float]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [(n, int(p), e, float(t)) for n, p, e, t in (line.split() for line in lines)]


def test_signal_storm_then_sigterm(circusd, tmp_path) -> None:
    circusd.write("worker.py", WORKER)
    text = "[circus]\ncheck_delay = 0\n"
    for name, (priority, count, mode, graceful) in WATCHERS.items():
        text += (f"\n[watcher:{name}]\ncmd = {sys.executable} worker.py {name} {mode}\n"
                 f"priority = {priority}\nnumprocesses = {count}\n"
                 f"graceful_timeout = {graceful}\n")
    proc = circusd.start(str(circusd.write("circus.ini", text)))
    total = sum(count for _, count, _, _ in WATCHERS.values())
    log = tmp_path / "events.log"
    proc.wait_children(total, timeout=30)

    def ready() -> bool:
        live = {p for p in children(proc.pid) if state(p) not in (None, "Z")}
        seen = {pid for _, pid, event, _ in _events(log) if event == "ready"}
        return len(live) == total and live <= seen

    deadline = time.monotonic() + 30
    while not ready():
        assert time.monotonic() < deadline, "workers never became ready"
        time.sleep(0.02)

    sent = {"SIGHUP": 0, "SIGUSR1": 0, "SIGCHLD": 0}
    kinds = [signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD]
    began = time.monotonic()
    for index in range(SIGNALS):
        signum = random.choice(kinds)
        proc.popen.send_signal(signum)
        sent[signal.Signals(signum).name] += 1
        time.sleep(max(0.0, began + (index + 1) / SIGNALS - time.monotonic()))
    storm = time.monotonic() - began
    assert proc.popen.poll() is None, "circusd died in the storm"
    every_worker = {pid for _, pid, event, _ in _events(log) if event == "ready"}
    live_at_term = {p for p in children(proc.pid) if state(p) not in (None, "Z")}
    term_at = time.time()
    proc.popen.send_signal(signal.SIGTERM)
    code = proc.popen.wait(timeout=120)
    stopped_in = time.time() - term_at
    every_worker |= {pid for _, pid, event, _ in _events(log) if event == "ready"}
    deadline = time.monotonic() + 5
    while any(state(pid) not in (None, "Z") for pid in every_worker):
        assert time.monotonic() < deadline, "workers outlived circusd"
        time.sleep(0.02)
    left = [pid for pid in every_worker if state(pid) not in (None, "Z")]

    events = _events(log)
    # Graceful timeouts: every slow worker told to stop finished on its own.
    slow_terms = {pid for name, pid, event, _ in events if name == "slow" and event == "term"}
    slow_done = {pid for name, pid, event, _ in events if name == "slow" and event == "done"}
    # Stop order, over the workers that were running when SIGTERM came and were
    # stopped by it: each watcher's last SIGTERM before the next one's first.
    final = [(name, at) for name, pid, event, at in events
             if event == "term" and pid in live_at_term and at >= term_at]
    firsts = {name: min(at for n, at in final if n == name) for name, _ in final}
    lasts = {name: max(at for n, at in final if n == name) for name, _ in final}
    order = sorted(firsts, key=firsts.__getitem__)
    stubborn_term = [at for name, _, event, at in events
                     if name == "stubborn" and event == "term" and at >= term_at]
    figures = {"signals": sent, "storm_seconds": round(storm, 3),
               "reloads_logged": proc.stdout().count("received SIGHUP"),
               "workers_seen": len(every_worker), "exit_code": code,
               "stop_seconds": round(stopped_in, 3), "stop_order": order,
               "slow_stopped": len(slow_terms), "slow_finished": len(slow_done),
               "left_behind": len(left)}
    report("signal_storm", figures)
    assert code == 0
    assert left == []
    assert slow_terms == slow_done, "a slow worker was killed before its graceful timeout"
    assert order == [name for name in STOP_ORDER if name in firsts]
    for before, after in itertools.pairwise(order):
        assert lasts[before] <= firsts[after], (before, after)
    # The stubborn worker was given its whole graceful timeout before the SIGKILL.
    assert stubborn_term and stopped_in >= 1.0
    assert "Traceback" not in proc.stderr() + proc.stdout()
