"""Worker kill storm: SIGKILL a random worker 50 times a second across 200 processes.

While the storm runs a client asks ``status`` every 10 ms (its p99 latency is
the figure). After it, every watcher must be back at its numprocesses within
2 s, no worker may be a zombie or an orphan (this test is a child subreaper,
so an orphan would be re-parented to it), and circusd's fd count and RSS are
back to their baseline within 5 %.

``CIRCUS_CHAOS_KILL_SECONDS`` sets the storm's length (issue 17 asks for 60 s;
``make test`` runs 15 s). The watchers respawn at once (``backoff = false``):
a crash-loop backoff is a deliberate wait, not what the 2 s bound measures.
The baseline is taken after a 1 s warm-up storm, so one-time allocations
(the first respawns' code paths) are not counted as growth.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
import uuid

import zmq
from conftest import is_orphan_guard

from ._chaos import (
    children,
    fd_count,
    latency_summary,
    report,
    rss_kib,
    seconds,
    state,
    zombies,
)

WATCHERS = 4
PER_WATCHER = 50
TOTAL = WATCHERS * PER_WATCHER
KILLS_PER_SECOND = 50
STORM = seconds("CIRCUS_CHAOS_KILL_SECONDS", 15)
P99_BOUND_MS = seconds("CIRCUS_CHAOS_STATUS_P99_MS", 20)


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _kill_child(parent: int, pid: int) -> bool:
    """SIGKILL ``pid`` if it is still ``parent``'s child (a pidfd: no pid-reuse race)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if _ppid(pid) != parent or state(pid) == "Z":
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class StatusProbe(threading.Thread):
    """Asks circusd ``status`` every 10 ms and records each reply's latency."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.latencies_ms: list[float] = []
        self.failures: list[str] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        context = zmq.Context()
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        try:
            while not self.stop_event.is_set():
                msg_id = uuid.uuid4().hex
                began = time.perf_counter()
                sock.send(json.dumps({"command": "status", "properties": {},
                                      "id": msg_id}).encode())
                if not sock.poll(5000):
                    self.failures.append("no reply to status within 5 s")
                    return
                reply = json.loads(sock.recv())
                elapsed = (time.perf_counter() - began) * 1000
                if reply.get("id") != msg_id or reply.get("status") != "ok":
                    self.failures.append(f"bad reply {reply}")
                self.latencies_ms.append(elapsed)
                self.stop_event.wait(max(0.0, 0.010 - elapsed / 1000))
        finally:
            sock.close(0)
            context.term()


def _live_workers(pid: int) -> list[int]:
    return [p for p in children(pid) if state(p) not in (None, "Z")]


def _storm(daemon: int, duration: float) -> int:
    """SIGKILL a random worker KILLS_PER_SECOND times a second; the number killed."""
    killed = 0
    period = 1 / KILLS_PER_SECOND
    pool: list[int] = []
    refreshed = 0.0
    began = time.monotonic()
    next_kill = began
    while (now := time.monotonic()) < began + duration:
        if now - refreshed > 0.1:
            pool, refreshed = _live_workers(daemon), now
        if pool:
            victim = pool.pop(random.randrange(len(pool)))
            killed += _kill_child(daemon, victim)
        next_kill += period
        time.sleep(max(0.0, next_kill - time.monotonic()))
    return killed


def _wait_full(daemon: int, timeout: float) -> float:
    """Seconds until ``TOTAL`` live workers run again; fails after ``timeout``."""
    began = time.monotonic()
    while len(_live_workers(daemon)) != TOTAL:
        assert time.monotonic() - began < timeout, \
            f"{len(_live_workers(daemon))}/{TOTAL} workers after {timeout} s"
        time.sleep(0.01)
    return time.monotonic() - began


def _orphans(token: str, daemon: int) -> list[int]:
    """Processes running our workers' command line whose parent is not circusd."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as handle:
            if token.encode() in handle.read() and _ppid(int(entry)) != daemon:
                found.append(int(entry))
    return found


def test_worker_kill_storm(circusd, subreaper) -> None:
    # The fraction makes our workers' argv unique: orphans are found by it.
    token = f"3600.{random.randrange(10**8, 10**9)}"
    text = "[circus]\ncheck_delay = 0\n"
    for index in range(WATCHERS):
        text += (f"\n[watcher:w{index}]\ncmd = sleep {token}\nnumprocesses = {PER_WATCHER}\n"
                 "backoff = false\ncheck_flapping = false\ngraceful_timeout = 1\n")
    proc = circusd.start(str(circusd.write("circus.ini", text)))
    daemon = proc.pid
    _wait_full(daemon, 60)
    _storm(daemon, 1.0)  # warm-up
    _wait_full(daemon, 10)
    time.sleep(0.5)  # let the warm-up's reaps and events settle before the baseline
    base_fds, base_rss = fd_count(daemon), rss_kib(daemon)

    probe = StatusProbe(circusd.endpoint)
    probe.start()
    try:
        killed = _storm(daemon, STORM)
        recovery = _wait_full(daemon, 10)
    finally:
        probe.stop_event.set()
        probe.join(10)
    deadline = time.monotonic() + 2
    while zombies(children(daemon)) and time.monotonic() < deadline:
        time.sleep(0.01)
    stray = zombies(children(daemon))
    orphans = _orphans(token, daemon)
    ours = [p for p in children(os.getpid())
            if p != daemon and state(p) is not None and not is_orphan_guard(p)]
    time.sleep(0.5)
    fds, rss = fd_count(daemon), rss_kib(daemon)
    status = latency_summary(probe.latencies_ms)
    figures = {
        "storm_seconds": STORM, "processes": TOTAL, "kills": killed,
        "kill_rate_per_s": round(killed / STORM, 1),
        "status": status,
        "recovery_seconds": round(recovery, 3), "zombies": len(stray),
        "orphans": len(orphans) + len(ours),
        "fds_baseline": base_fds, "fds_after": fds,
        "rss_kib_baseline": base_rss, "rss_kib_after": rss,
        "rss_change_pct": round(100 * (rss - base_rss) / base_rss, 2),
    }
    report("kill_storm", figures)
    assert probe.failures == []
    assert killed >= 0.9 * KILLS_PER_SECOND * STORM
    assert status["p99_ms"] <= P99_BOUND_MS
    assert recovery <= 2.0
    assert stray == [] and orphans == [] and ours == []
    assert abs(fds - base_fds) <= max(1, 0.05 * base_fds)
    assert abs(rss - base_rss) <= 0.05 * base_rss
    assert "Traceback" not in proc.stderr() + proc.stdout()
    assert proc.stop() == 0
