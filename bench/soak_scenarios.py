"""Soak scenarios (ours only): what circusd keeps after a long, busy life.

``soak-respawn``: 100,000 respawns. 40 crashers (4 watchers of 10) exit at
once (``backoff = false``, ``max_retry = -1``); each appends one byte to a
counter file first (O_APPEND: none is lost), so its size counts the
respawns. Before the soak, a warm-up of 2,000 respawns is run and every
watcher stopped: the idle RSS and fd count then are the baseline, taken once
whatever circusd creates lazily exists. After the soak every watcher is
stopped again and the same two numbers are taken. Along the way circusd's
RSS and fd count are sampled from /proc every 0.25 s (the fds in use then
include those of processes being spawned, hence the baseline is taken idle).

``soak-addrm`` ("24 h compressed"): for 10 minutes, 100 watchers a second are
added (``add`` with ``start``, one ``sleep`` each) and removed 1 s later
(``rm``) through :class:`circus.client.AsyncCircusClient`. The arbiter runs in
its own process through circus-core's public API (``_soak_host.py``), which
samples its own tables: watchers, processes, asyncio tasks, threads, and the
objects the garbage collector tracks (those of ``circus`` classes by class).
RSS and fds are sampled from /proc. As above, a 10 s warm-up of the same churn
comes first, then a baseline with no watcher; after the soak, the same.

Both plot their curves to ``bench/results/soak-*.png``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _ctl_client as ctl
import _proc
import zmq
from _daemons import REPO, DaemonSpec, launch, with_ini
from _soak_plot import plot
from scenarios import SH, SLEEP, Result, ScenarioError, _check_alive, workdir

RESPAWN = "soak-respawn"
ADDRM = "soak-addrm"
SCENARIOS = (RESPAWN, ADDRM)
RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST = Path(__file__).resolve().parent / "_soak_host.py"

RESPAWNS = 100_000
RESPAWN_WATCHERS = 4
RESPAWN_PROCS = 10  # per watcher
RESPAWN_WARMUP = 2_000
SAMPLE_EVERY = 0.25  # seconds between two /proc samples

ADDRM_SECONDS = 600.0
ADDRM_RATE = 100.0  # watchers added (and removed) per second
ADDRM_LIFETIME = 1.0  # seconds from a watcher's add to its rm
ADDRM_WARMUP = 10.0
TABLES_EVERY = 2.0  # seconds between two samples of the arbiter's tables
IN_FLIGHT = 256  # most calls outstanding at once: a slow daemon is not flooded
SETTLE = 1.0  # seconds given to the daemon once idle, before a baseline


def rss_and_fds(pid: int) -> tuple[float, int]:
    """The RSS (MiB) and number of open fds of ``pid``; raises ScenarioError if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            rss_kib = next(int(line.split()[1]) for line in fh if line.startswith(b"VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration) as exc:
        raise ScenarioError(f"cannot read /proc/{pid}: {exc}") from None
    return rss_kib / 1024, fds


def _wait(what: str, done: Callable[[], bool], timeout: float,
          alive: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        alive()
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def _median_of(values: list[float], first: bool, share: float = 0.05) -> float:
    """Median of the first (or last) ``share`` of ``values``."""
    count = max(1, int(len(values) * share))
    return statistics.median(values[:count] if first else values[-count:])


# -- soak-respawn -------------------------------------------------------------------------


def _respawn_ini(wd: Path, counter: Path) -> str:
    lines = ["[circus]", "loglevel = info", f"logoutput = {wd}/daemon.log",
             f"endpoint = ipc://{wd}/ctl.sock", f"pubsub_endpoint = ipc://{wd}/pub.sock",
             "warmup_delay = 0"]
    for i in range(RESPAWN_WATCHERS):
        lines += ["", f"[watcher:crasher{i}]", f"cmd = {SH} -c 'printf x >> {counter}'",
                  f"numprocesses = {RESPAWN_PROCS}", "warmup_delay = 0", "backoff = false",
                  "max_retry = -1", "autostart = false"]
    return "\n".join(lines) + "\n"


def run_respawn(spec: DaemonSpec, *, respawns: int = RESPAWNS,
                plot_path: Path = RESULTS_DIR / "soak-respawn.png") -> Result:
    """circusd's RSS and fds across ``respawns`` respawns; plots the curves."""
    with workdir(spec.label) as wd:
        counter = wd / "spawns"
        counter.touch()
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            with launch(with_ini(spec, _respawn_ini(wd, counter)), wd, []) as daemon:
                def alive() -> None:
                    _check_alive(daemon)

                endpoint = f"ipc://{wd}/ctl.sock"
                ctl.wait_ready(context, endpoint, 30, alive=alive)
                dealer = ctl.Dealer(context, endpoint, timeout=60)
                try:
                    def spawned() -> int:
                        return counter.stat().st_size

                    def stop_all() -> tuple[float, int]:
                        dealer.call("stop", {"waiting": True})
                        _wait("no child left", lambda: not daemon.children(), 30, alive)
                        time.sleep(SETTLE)
                        return rss_and_fds(daemon.pid)

                    def start_all() -> None:
                        # One by one: a `start` of every watcher skips autostart = false.
                        for i in range(RESPAWN_WATCHERS):
                            dealer.call("start", {"name": f"crasher{i}", "waiting": True})

                    start_all()
                    _wait(f"{RESPAWN_WARMUP} warm-up respawns",
                          lambda: spawned() >= RESPAWN_WARMUP, 120, alive)
                    rss0, fds0 = stop_all()
                    base = spawned()
                    curve: list[tuple[float, float, int]] = []
                    started = time.monotonic()
                    start_all()
                    while (done := spawned() - base) < respawns:
                        alive()
                        curve.append((done, *rss_and_fds(daemon.pid)))
                        if time.monotonic() - started > 3600:
                            raise ScenarioError(f"only {done} respawns in an hour")
                        time.sleep(SAMPLE_EVERY)
                    soak_s = time.monotonic() - started
                    curve.append((spawned() - base, *rss_and_fds(daemon.pid)))
                    rss1, fds1 = stop_all()
                finally:
                    dealer.close()
                alive()
        finally:
            context.term()
    return _respawn_figures(curve, soak_s, (rss0, fds0), (rss1, fds1), plot_path)


def _respawn_figures(curve: list[tuple[float, float, int]], soak_s: float,
                     before: tuple[float, int], after: tuple[float, int],
                     plot_path: Path) -> Result:
    done = [c[0] for c in curve]
    rss = [c[1] for c in curve]
    fds = [float(c[2]) for c in curve]
    result: Result = {
        "respawns": done[-1], "soak_s": soak_s, "respawns_per_s": done[-1] / soak_s,
        "idle_rss_before_mb": before[0], "idle_rss_after_mb": after[0],
        "rss_growth_mb": after[0] - before[0],
        "load_rss_first_mb": _median_of(rss, first=True),
        "load_rss_last_mb": _median_of(rss, first=False),
        "load_rss_growth_mb": _median_of(rss, first=False) - _median_of(rss, first=True),
        "load_rss_max_mb": max(rss), "idle_fds_before": before[1], "idle_fds_after": after[1],
        "fd_growth": after[1] - before[1], "load_fds_min": min(fds), "load_fds_max": max(fds),
        "samples": len(curve),
    }
    title = (f"circusd, {done[-1]:,.0f} respawns in {soak_s:.0f} s: idle RSS "
             f"{before[0]:.1f} -> {after[0]:.1f} MiB, idle fds {before[1]} -> {after[1]}")
    result["plot"] = str(plot(plot_path, title, "respawns (thousands)",
                              [d / 1000 for d in done],
                              [("RSS (MiB)", rss), ("open fds", fds)]))
    return result


# -- soak-addrm ---------------------------------------------------------------------------


class _Churn:
    """Adds ``rate`` watchers a second, each removed ``lifetime`` seconds after its add."""

    def __init__(self, client: Any, rate: float, lifetime: float) -> None:
        self.client = client
        self.rate = rate
        self.lifetime = lifetime
        self.added = 0
        self.last_added = 0.0  # loop time of the last add's reply
        self.removed = 0
        self.errors: list[str] = []
        self.started = 0.0  # loop time of the first add
        self._slots = asyncio.Semaphore(IN_FLIGHT)

    async def _call(self, command: str, **props: Any) -> bool:
        async with self._slots:
            try:
                await self.client.call(command, **props)
                return True
            except Exception as exc:  # counted and shown: the soak goes on
                self.errors.append(f"{command} {props.get('name')}: {exc}")
                return False

    async def _one(self, name: str, remove_at: float) -> None:
        loop = asyncio.get_running_loop()
        if not await self._call("add", name=name, cmd=SLEEP, args=["3600"], start=True,
                                options={"numprocesses": 1, "graceful_timeout": 5}):
            return
        self.added += 1
        self.last_added = loop.time()
        await asyncio.sleep(max(0.0, remove_at - loop.time()))
        if await self._call("rm", name=name):
            self.removed += 1

    async def run(self, prefix: str, seconds: float) -> None:
        """Churn for ``seconds``, then wait until the last watcher is removed."""
        loop = asyncio.get_running_loop()
        start = self.started = loop.time()
        pending: set[asyncio.Task[None]] = set()
        i = 0
        while (due := start + i / self.rate) < start + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            task = asyncio.create_task(self._one(f"{prefix}{i}", due + self.lifetime))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        await asyncio.gather(*pending)


def _tables(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _idle_baseline(client: Any, host: subprocess.Popen[bytes], tables: Path,
                         alive: Callable[[], None]) -> tuple[float, int, dict[str, Any]]:
    """Once no watcher and no process is left: (RSS MiB, fds, a tables sample taken idle)."""
    deadline = time.monotonic() + 60
    while True:
        alive()
        reply = await client.call("numwatchers")
        if reply.get("numwatchers") == 0 and not _proc.children_of(host.pid):
            break
        if time.monotonic() > deadline:
            raise ScenarioError("watchers or processes still there 60 s after the last rm")
        await asyncio.sleep(0.1)
    await asyncio.sleep(SETTLE)
    rss, fds = rss_and_fds(host.pid)
    # The next sample also measures the RSS once the allocator returned its free
    # pages: RSS that stays after a burst yet goes then is kept, not leaked.
    trim = tables.parent / "trim"
    trim.touch()
    asked = time.monotonic()
    while True:  # the first tables sample taken after this point
        alive()
        recent = [s for s in _tables(tables) if s["t"] > asked]
        if recent:
            trim.unlink()
            return rss, fds, recent[0]
        if time.monotonic() > asked + 10 * TABLES_EVERY:
            raise ScenarioError("the arbiter host wrote no tables sample")
        await asyncio.sleep(0.1)


async def _drive(endpoint: str, host: subprocess.Popen[bytes], tables: Path, seconds: float,
                 rate: float, alive: Callable[[], None]) -> Result:
    from circus.client import AsyncCircusClient

    async with AsyncCircusClient(endpoint, timeout=30, check=True) as client:
        deadline = time.monotonic() + 30
        while True:
            alive()
            try:
                await asyncio.wait_for(client.call("status"), 1.0)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise ScenarioError(f"{endpoint} never answered status") from None
                await asyncio.sleep(0.1)
        await _Churn(client, rate, ADDRM_LIFETIME).run("warm", ADDRM_WARMUP)
        before = await _idle_baseline(client, host, tables, alive)
        churn = _Churn(client, rate, ADDRM_LIFETIME)
        curve: list[tuple[float, float, int, int]] = []
        started = time.monotonic()
        soak = asyncio.create_task(churn.run("w", seconds))
        while not soak.done():
            alive()
            curve.append((time.monotonic() - started, *rss_and_fds(host.pid), churn.added))
            await asyncio.wait({soak}, timeout=1.0)
        await soak
        soak_s = time.monotonic() - started
        after = await _idle_baseline(client, host, tables, alive)
    return {"churn": churn, "curve": curve, "soak_s": soak_s, "before": before,
            "after": after, "started": started}


def run_addrm(spec: DaemonSpec, *, seconds: float = ADDRM_SECONDS, rate: float = ADDRM_RATE,
              plot_path: Path = RESULTS_DIR / "soak-addrm.png") -> Result:
    """RSS, fds and the arbiter's tables across ``seconds`` of add/rm churn; plots them."""
    with workdir(spec.label) as wd:
        tables = wd / "tables.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(spec.env)
        python = REPO / ".venv" / "bin" / "python"
        with open(wd / "host.out", "wb") as out:
            host = subprocess.Popen(
                [str(python) if python.exists() else sys.executable, str(HOST), str(wd),
                 str(TABLES_EVERY)], cwd=wd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

        def alive() -> None:
            if host.poll() is not None:
                tail = (wd / "host.out").read_text(errors="replace").strip().splitlines()[-5:]
                raise ScenarioError(f"arbiter host exited with {host.returncode}: "
                                    f"{' | '.join(tail)}")

        try:
            run = asyncio.run(_drive(f"ipc://{wd}/ctl.sock", host, tables, seconds, rate,
                                     alive))
            samples = _tables(tables)
        finally:
            _proc.kill_and_reap(host)
    return _addrm_figures(run, samples, rate, plot_path)


def _addrm_figures(run: Result, samples: list[dict[str, Any]], rate: float,
                   plot_path: Path) -> Result:
    churn: _Churn = run["churn"]
    (rss0, fds0, t0), (rss1, fds1, t1) = run["before"], run["after"]
    rss = [c[1] for c in run["curve"]]
    result: Result = {
        "soak_s": run["soak_s"], "target_rate": rate, "added": churn.added,
        "removed": churn.removed, "adds_per_s": churn.added / (churn.last_added - churn.started),
        "errors": len(churn.errors), "idle_rss_before_mb": rss0, "idle_rss_after_mb": rss1,
        "rss_growth_mb": rss1 - rss0,
        "load_rss_first_mb": _median_of(rss, first=True, share=0.1),
        "load_rss_last_mb": _median_of(rss, first=False, share=0.1),
        "load_rss_growth_mb": (_median_of(rss, first=False, share=0.1)
                               - _median_of(rss, first=True, share=0.1)),
        "idle_fds_before": fds0, "idle_fds_after": fds1, "fd_growth": fds1 - fds0,
    }
    if t0.get("rss_kib_trimmed") is not None and t1.get("rss_kib_trimmed") is not None:
        result["trimmed_rss_before_mb"] = t0["rss_kib_trimmed"] / 1024
        result["trimmed_rss_after_mb"] = t1["rss_kib_trimmed"] / 1024
        result["trimmed_rss_growth_mb"] = (t1["rss_kib_trimmed"] - t0["rss_kib_trimmed"]) / 1024
    for key in ("watchers", "processes", "tasks", "threads", "circus_objects", "gc_objects",
                "allocated_blocks"):
        result[f"idle_{key}_before"] = t0[key]
        result[f"idle_{key}_after"] = t1[key]
        result[f"{key}_growth"] = t1[key] - t0[key]
    grew = {name: t1["circus_by_class"].get(name, 0) - count
            for name, count in t0["circus_by_class"].items()}
    grew.update({name: count for name, count in t1["circus_by_class"].items()
                 if name not in t0["circus_by_class"]})
    changed = sorted(((d, n) for n, d in grew.items() if d), reverse=True)[:5]
    if changed:
        result["note"] = "circus objects that changed, idle after vs before: " + ", ".join(
            f"{n} {d:+d}" for d, n in changed)
    if churn.errors:
        result["error_sample"] = churn.errors[:3]
    during = [s for s in samples if s["t"] >= run["started"]]
    minutes = [(s["t"] - run["started"]) / 60 for s in during]
    curve_min = [c[0] / 60 for c in run["curve"]]
    title = (f"arbiter, {churn.added:,} add + {churn.removed:,} rm in {run['soak_s']:.0f} s: "
             f"idle RSS {rss0:.1f} -> {rss1:.1f} MiB, fds {fds0} -> {fds1}, circus objects "
             f"{t0['circus_objects']} -> {t1['circus_objects']}")
    fds = [float(c[2]) for c in run["curve"]]
    # Two time bases: /proc samples (every second) and tables samples (every 2 s).
    # The plot uses the tables' one; /proc values are taken at the nearest second.
    def nearest(values: list[float], at: list[float]) -> list[float]:
        out, j = [], 0
        for m in at:
            while j + 1 < len(curve_min) and curve_min[j + 1] <= m:
                j += 1
            out.append(values[j] if values else 0.0)
        return out

    result["plot"] = str(plot(plot_path, title, "minutes", minutes, [
        ("RSS (MiB)", nearest(rss, minutes)), ("open fds", nearest(fds, minutes)),
        ("watchers", [float(s["watchers"]) for s in during]),
        ("asyncio tasks", [float(s["tasks"]) for s in during]),
        ("circus objects", [float(s["circus_objects"]) for s in during]),
        ("allocated blocks (k)", [s["allocated_blocks"] / 1000 for s in during]),
    ]))
    return result


__all__ = ["ADDRM", "RESPAWN", "SCENARIOS", "rss_and_fds", "run_addrm", "run_respawn"]
