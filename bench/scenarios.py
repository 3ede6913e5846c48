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
    """Follows the daemon's children until ``n`` of them have exec'd ``sleep``.

    Each poll costs O(new pids), not O(children): new children are found among
    the pids allocated since the previous poll (``_proc.NewPids``), and only
    children not yet seen as ``sleep`` are looked at again. Reading the
    daemon's children list costs O(N) and, at 10,000 children, took more CPU
    than the daemon and stalled its forks (see bench/README.md, "Spawn
    scaling"): it is read only once the count is reached, to confirm it, and
    as a safety net at most every ``FULL_EVERY`` seconds (or rarer if it is slow).
    """

    daemon: RunningDaemon
    n: int
    first_child: float | None = None  # monotonic time the first child was seen

    FULL_EVERY = 1.0  # seconds between two reads of the whole children list, at least
    FULL_SHARE = 0.02  # ...and those reads may take at most this share of the bench's time

    def wait(self, timeout: float) -> tuple[float, _proc.Tracked]:
        """Return (time all n run sleep, the n sleepers); raises on timeout."""
        parent = self.daemon.pid
        names = {"sleep", _proc.comm(parent)}
        new = _proc.NewPids()
        pending: set[int] = set()  # children not yet seen running sleep
        sleepers: set[int] = set()
        next_full = 0.0  # the first poll reads the list: children born before NewPids
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            pids = new.take()
            if pids is None or now >= next_full:
                t0 = time.monotonic()
                pending.update(set(self.daemon.children()) - sleepers)
                cost = time.monotonic() - t0
                next_full = now + max(self.FULL_EVERY, cost / self.FULL_SHARE)
            for pid in list(pending):
                name = _proc.comm(pid)  # not sleep yet: forked, exec still pending
                if name == "sleep":
                    sleepers.add(pid)
                    pending.discard(pid)
                elif name is None:
                    pending.discard(pid)  # died before its exec
            for pid in pids or ():
                if pid in pending or pid in sleepers:
                    continue
                name = _proc.comm(pid)
                if name is None:
                    new.missing(pid)
                    continue
                new.found(pid)
                # A child has the daemon's name until it execs: other processes
                # (other work on the machine) cost one small read, not a stat.
                if name in names:
                    seen = _proc.parent_and_comm(pid)
                    if seen is not None and seen[0] == parent:
                        (sleepers if seen[1] == "sleep" else pending).add(pid)
            if (pending or sleepers) and self.first_child is None:
                self.first_child = now
            if len(sleepers) >= self.n:
                # Confirm against the list: a sleeper may have died since.
                kids = set(self.daemon.children())
                running = sleepers & kids
                if len(running) >= self.n:
                    tracked = _proc.Tracked()
                    for pid in running:
                        tracked.add(pid)
                    return now, tracked
                sleepers = running
                pending.update(kids - sleepers)
            _check_alive(self.daemon)
            if now > deadline:
                raise ScenarioError(f"only {len(sleepers)}/{self.n} processes running "
                                    f"after {timeout:.0f}s")
            time.sleep(POLL)


def wait_all_gone(daemon: RunningDaemon, tracked: _proc.Tracked,
                  timeout: float) -> float | None:
    """Poll until none of ``tracked`` remains; the time that happened, or None.

    While the daemon lives, a process remains as long as it is in the daemon's
    child list, zombies included: stopping is done when the daemon has reaped
    them. A child of a living daemon is in its list exactly as long as its
    /proc entry is there, so the pids are checked in order and a poll stops at
    the first one still there: O(1) per poll plus O(1) per reaped process,
    where reading the children list would cost O(N) per poll. Once the daemon
    is gone its leftovers are re-parented to the bench; then only those still
    running count (their zombies are ours to reap).
    """
    remaining = list(tracked.procs)
    deadline = time.monotonic() + timeout
    while True:
        if daemon.alive():
            while remaining and not tracked.exists(remaining[-1]):
                remaining.pop()
            left = len(remaining)
        else:
            left = len(tracked.alive())
        now = time.monotonic()
        if not left:
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


def run_scaling(spec: DaemonSpec, small_n: int, big_n: int, *, rounds: int,
                start_timeout: float) -> Result:
    """The scaling pair: is the cost of a process the same at ``big_n`` as at ``small_n``?

    Fresh daemons start and stop ``small_n`` and ``big_n`` sleepers in turn,
    ``small_n`` first and last: small, big, small, big, small for 2 rounds.
    The big runs also count errors in the daemon's log. The result holds the
    big runs' numbers (medians), the small ones' under ``small_`` (medians),
    the start and stop time per process of each and their ratios, big over
    small. Small runs bracketing the big ones see the same machine on
    average: on a shared machine a load that comes and goes shifts the two
    alike instead of one of them. Every run's numbers are under ``runs``.
    """
    runs: list[Result] = []
    for index in range(2 * rounds + 1):
        if index % 2 == 0:
            runs.append(run_sleepers(spec, small_n, measure={"stop"}, idle_seconds=0,
                                     start_timeout=start_timeout))
        else:
            runs.append(run_sleepers(spec, big_n, measure={"big"}, idle_seconds=0,
                                     start_timeout=start_timeout, check_log=True))
    small, big = runs[0::2], runs[1::2]
    result: Result = {"n": big_n, "small_n": small_n, "runs": runs}
    for prefix, group, count in (("", big, big_n), ("small_", small, small_n)):
        for key in ("start_s", "stop_s", "daemon_exit_s"):
            result[prefix + key] = _median([r.get(key) for r in group])
        for what in ("start", "stop"):
            seconds = result[f"{prefix}{what}_s"]
            result[f"{prefix}{what}_ms_per_process"] = (
                None if seconds is None else 1000 * seconds / count)
    for what in ("start", "stop"):
        per_small = result[f"small_{what}_ms_per_process"]
        per_big = result[f"{what}_ms_per_process"]
        result[f"{what}_per_process_ratio"] = (
            per_big / per_small if per_big is not None and per_small else None)
    # The first big run's daemon that did not exit with 0 (None: it did not exit).
    result["exit_code"] = next((r.get("exit_code") for r in big if r.get("exit_code") != 0), 0)
    result["log_errors"] = sum(r.get("log_errors", 0) for r in big)
    result["log_warnings"] = sum(r.get("log_warnings", 0) for r in big)
    result["log_error_sample"] = [line for r in big for line in r.get("log_error_sample", [])][:3]
    left = [r["left_running"] for r in runs if "left_running" in r]
    if left:
        result["left_running"] = max(left)
    return result


def _median(values: list[Any]) -> float | None:
    """Median of the numbers among ``values``; None if there are none."""
    numbers = sorted(v for v in values if isinstance(v, (int, float)))
    if not numbers:
        return None
    mid = len(numbers) // 2
    return numbers[mid] if len(numbers) % 2 else (numbers[mid - 1] + numbers[mid]) / 2


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
