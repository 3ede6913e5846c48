"""The benchmark scenarios. Each takes a DaemonSpec and returns a dict of numbers.

Every measurement is taken from outside the daemon (/proc, psutil, files its
children write), so all three daemons are measured by exactly the same code.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _proc
import psutil
from _daemons import DaemonSpec, Program, RunningDaemon, launch

SLEEP = shutil.which("sleep") or "/bin/sleep"
SH = shutil.which("sh") or "/bin/sh"
# Seconds between two /proc polls. A poll of 1000 children costs ~0.5 ms of CPU:
# at 5 ms the bench takes < 10 % of a core from the daemon it measures.
POLL = 0.005
SETTLE = 3.0  # seconds the daemon gets after the start before idle CPU/RSS are measured

Result = dict[str, Any]
KEEP_WORKDIRS = False  # run.py --keep: leave configs, logs and outputs for a post-mortem


class ScenarioError(Exception):
    """A scenario could not be measured (daemon died, timeout...)."""


@contextmanager
def workdir(label: str) -> Iterator[Path]:
    """A fresh temp dir for one daemon run, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"circus-bench-{label.split()[0]}-"))
    try:
        yield path
    finally:
        if KEEP_WORKDIRS:
            print(f"(kept {path})", end=" ", flush=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _check_alive(daemon: RunningDaemon) -> None:
    if not daemon.alive():
        raise ScenarioError(daemon.describe_death())


# -- start / stop / idle CPU / RSS of N sleepers ------------------------------------------


@dataclass
class StartWatch:
    """Follows the daemon's children until ``n`` of them have exec'd ``sleep``."""

    daemon: RunningDaemon
    n: int
    first_child: float | None = None  # monotonic time the first child was seen

    def wait(self, timeout: float) -> tuple[float, _proc.Tracked]:
        """Return (time all n run sleep, the n sleepers); raises on timeout."""
        sleepers: set[int] = set()
        deadline = time.monotonic() + timeout
        while True:
            kids = self.daemon.children()
            now = time.monotonic()
            if kids and self.first_child is None:
                self.first_child = now
            # Only children not yet seen as sleep are looked at: a poll costs
            # O(new children), not O(n), and stays cheap while the daemon works.
            for pid in kids:
                if pid in sleepers:
                    continue
                if _proc.comm(pid) == "sleep":  # else forked, exec still pending
                    sleepers.add(pid)
            kid_set = set(kids)
            running = sleepers & kid_set
            if len(running) >= self.n:
                tracked = _proc.Tracked()
                for pid in running:
                    tracked.add(pid)
                return now, tracked
            sleepers &= kid_set  # forget sleepers that died (respawned ones come back new)
            _check_alive(self.daemon)
            if now > deadline:
                raise ScenarioError(f"only {len(running)}/{self.n} processes running "
                                    f"after {timeout:.0f}s")
            time.sleep(POLL)


def wait_all_gone(daemon: RunningDaemon, tracked: _proc.Tracked,
                  timeout: float) -> float | None:
    """Poll until none of ``tracked`` remains; the time that happened, or None.

    While the daemon lives, a process remains as long as it is in the daemon's
    child list, zombies included: stopping is done when the daemon has reaped
    them. Once the daemon is gone its leftovers are re-parented to the bench;
    then only those still running count (their zombies are ours to reap).
    """
    pids = set(tracked.procs)
    deadline = time.monotonic() + timeout
    while True:
        if daemon.alive():
            remaining = len(pids.intersection(daemon.children()))
        else:
            remaining = len(tracked.alive())
        now = time.monotonic()
        if not remaining:
            return now
        if now > deadline:
            return None
        time.sleep(POLL)


def run_sleepers(spec: DaemonSpec, n: int, *, measure: set[str], idle_seconds: float,
                 start_timeout: float = 120.0, stop_timeout: float = 60.0,
                 check_log: bool = False) -> Result:
    """Start ``n`` sleepers, optionally measure idle CPU and RSS, then stop them."""
    result: Result = {"n": n}
    with workdir(spec.label) as wd, launch(spec, wd, [Program("sleepers", [SLEEP, "3600"], n)]
                                             ) as daemon:
        watch = StartWatch(daemon, n)
        t_all, tracked = watch.wait(start_timeout)
        assert watch.first_child is not None
        result["start_s"] = t_all - watch.first_child
        result["start_with_boot_s"] = t_all - daemon.launched
        result["boot_s"] = watch.first_child - daemon.launched

        if measure & {"idle", "rss"}:
            proc = psutil.Process(daemon.pid)
            time.sleep(SETTLE)
            if "idle" in measure:
                before = proc.cpu_times()
                t0 = time.monotonic()
                time.sleep(idle_seconds)
                after = proc.cpu_times()
                wall = time.monotonic() - t0
                used = (after.user - before.user) + (after.system - before.system)
                result["idle_cpu_pct"] = 100.0 * used / wall
            result["rss_mb"] = proc.memory_info().rss / 2**20
            result["threads"] = proc.num_threads()
            still = len(tracked.alive())
            if still != n:
                result["note"] = f"only {still}/{n} still running after the idle period"

        if measure & {"stop", "big"}:
            _check_alive(daemon)
            t0 = time.monotonic()
            daemon.terminate()
            gone = wait_all_gone(daemon, tracked, stop_timeout)
            try:
                daemon.popen.wait(timeout=max(stop_timeout - (time.monotonic() - t0), 1))
                exited: float | None = time.monotonic()
            except Exception:
                exited = None
            result["stop_s"] = None if gone is None else gone - t0
            result["daemon_exit_s"] = None if exited is None else exited - t0
            result["exit_code"] = daemon.popen.returncode
            if gone is None:
                result["left_running"] = len(tracked.alive())
        if check_log:
            text = daemon.log_text()
            bad = [line for line in text.splitlines()
                   if re.search(r"\b(ERROR|CRITICAL|CRIT|Traceback)\b", line)]
            result["log_errors"] = len(bad)
            result["log_error_sample"] = bad[:3]
            result["log_warnings"] = sum(1 for line in text.splitlines() if "WARN" in line)
    return result


# -- respawn rate -----------------------------------------------------------------------


def run_respawn(spec: DaemonSpec, *, procs: int = 20, seconds: float = 5.0,
                warmup: float = 1.0) -> Result:
    """Rate of respawns of ``procs`` processes that exit at once with status 1.

    Each crasher appends one byte to a shared counter file (O_APPEND, so no
    byte is lost to a race) before exiting: the file size is the number of
    processes that ran, whatever the daemon logs and however fast they die.
    """
    with workdir(spec.label) as wd:
        counter = wd / "spawns"
        counter.touch()
        argv = [SH, "-c", f"printf x >> {counter}; exit 1"]
        with launch(spec, wd, [Program("crasher", argv, procs, crash_loop=True)]) as daemon:
            time.sleep(warmup)  # past the initial burst of the first start
            _check_alive(daemon)
            s0, t0 = counter.stat().st_size, time.monotonic()
            time.sleep(seconds)
            s1, t1 = counter.stat().st_size, time.monotonic()
            _check_alive(daemon)
        return {"respawns": s1 - s0, "window_s": t1 - t0,
                "respawns_per_s": (s1 - s0) / (t1 - t0), "total_spawns": s1}


# -- log throughput ---------------------------------------------------------------------

LINE_LEN = 100  # bytes per line, newline included
_HEAD = 13  # "W SSSSSSSSSS " : writer id, space, 10-digit sequence number, space
_LINE_RE = re.compile(rb"^([0-9]) ([0-9]{10}) x{%d}$" % (LINE_LEN - _HEAD - 1), re.M)

WRITER = f'''\
"""Bench log writer: build all lines first, wait for "go", write them flat out."""
import os, sys, time
wid, nbytes, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pad = b"x" * {LINE_LEN - _HEAD - 1}
data = b"".join([b"%d %010d %s\\n" % (wid, i, pad) for i in range(nbytes // {LINE_LEN})])
open(os.path.join(workdir, "ready.%d" % wid), "w").close()
go = os.path.join(workdir, "go")
while not os.path.exists(go):
    time.sleep(0.001)
view = memoryview(data)
while view:
    view = view[os.write(1, view[:1 << 20]):]
open(os.path.join(workdir, "done.%d" % wid), "w").close()
time.sleep(3600)  # stay up: an exit would only make the daemon respawn us
'''


def run_log(spec: DaemonSpec, *, writers: int = 4, mb_per_writer: int = 64,
            timeout: float = 180.0) -> Result:
    """MB/s of ``writers`` processes writing numbered lines into one FileStream.

    Supervisor cannot send several programs into one file: each writer gets its
    own logfile there and the files are summed. Timing starts when every writer
    has its data ready in memory and ends when the last byte is in the file(s).
    """
    nbytes = mb_per_writer * 2**20 // LINE_LEN * LINE_LEN
    expected = writers * nbytes
    with workdir(spec.label) as wd:
        script = wd / "writer.py"
        script.write_text(WRITER)
        shared = spec.kind != "supervisor"
        out = wd / ("out.log" if shared else "out.{wid}.log")
        prog = Program("writer", [sys.executable, str(script), "{wid}", str(nbytes), str(wd)],
                       writers, stdout_file=out)
        with launch(spec, wd, [prog]) as daemon:
            deadline = time.monotonic() + timeout
            while len(list(wd.glob("ready.*"))) < writers:
                _check_alive(daemon)
                if time.monotonic() > deadline:
                    raise ScenarioError("writers never got ready")
                time.sleep(0.01)
            t0 = time.monotonic()
            (wd / "go").touch()
            size = last_size = 0
            last_growth = t0
            while True:
                size = sum(p.stat().st_size for p in wd.glob("out*.log"))
                now = time.monotonic()
                if size != last_size:
                    last_size, last_growth = size, now
                if size >= expected:
                    break
                done = len(list(wd.glob("done.*"))) == writers
                if (done and now - last_growth > 1.0) or now > deadline:
                    break  # bytes were lost: stop waiting for them
                _check_alive(daemon)
                time.sleep(POLL)
            elapsed = last_growth - t0
        counts = _verify_lines(sorted(wd.glob("out*.log")), writers, nbytes // LINE_LEN)
    return {"bytes": size, "expected_bytes": expected, "seconds": elapsed,
            "mb_per_s": size / 2**20 / elapsed if elapsed > 0 else None,
            "files": "one shared file" if shared else f"{writers} files, summed", **counts}


def _verify_lines(files: list[Path], writers: int, per_writer: int) -> dict[str, int]:
    """Count whole, torn, lost and duplicated lines in the written files.

    A line is whole when it is exactly one line as a writer produced it; any
    other line is torn. Lost = expected (writer, number) pairs never seen whole.
    """
    seen: dict[bytes, set[int]] = {}
    whole = total = 0
    for path in files:
        data = path.read_bytes()
        total += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        for match in _LINE_RE.finditer(data):
            whole += 1
            seen.setdefault(match.group(1), set()).add(int(match.group(2)))
        del data
    unique = sum(len(s) for s in seen.values())
    return {"lines": total, "torn_lines": total - whole, "duplicate_lines": whole - unique,
            "lost_lines": writers * per_writer - unique}


def env_facts() -> dict[str, Any]:
    """Facts about the machine the numbers were measured on."""
    with open("/proc/sys/kernel/pid_max") as fh:
        pid_max = int(fh.read())
    return {"cpus": os.cpu_count(), "loadavg_1m_at_start": os.getloadavg()[0],
            "python": sys.version.split()[0],
            "kernel": os.uname().release, "pid_max": pid_max,
            "mem_gb": round(psutil.virtual_memory().total / 2**30, 1)}
