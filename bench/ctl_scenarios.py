"""Control-plane benchmarks: circus's JSON command channel, ours against circus 0.19.

One daemon run serves every selected scenario: N ``sleep`` processes in one
watcher named ``sleepers``, control endpoint ``ipc://<tmp>/ctl.sock``. Once all
N run and ``status`` answers, the scenarios take turns (in this order, ``stats``
last because it is the heaviest):

* ``ctl-rtt``: sequential round trips of ``status``, ``numprocesses`` and
  ``list`` (no arguments) from one raw DEALER: p50 / p99;
* ``ctl-list``: ``list sleepers`` (N pids): p50 / p99;
* ``ctl-concurrent``: 20 DEALERs, each with one ``status`` always in flight:
  calls per second in total;
* ``ctl-circusctl``: the whole ``circusctl status`` command, process start to
  exit (each daemon with its own circusctl);
* ``ctl-stats``: ``stats sleepers`` (N processes) on one connection while a
  second calls ``status`` back to back: the stats time, and the status round
  trips that overlapped it.

``run_floor`` measures the same client against pyzmq ROUTER echo servers, and
the interpreter start-up: the least a Python daemon and a Python CLI can do on
this machine. Results are reported, never asserted.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import zmq
from _ctl_client import (
    ECHO_ASYNCIO,
    ECHO_BLOCKING,
    CtlError,
    Dealer,
    check_reply,
    concurrent_calls,
    echo_server,
    latency_stats,
    percentile,
    request,
    timed_calls,
    wait_ready,
)
from _daemons import REPO, DaemonSpec, Program, RunningDaemon, launch
from scenarios import SLEEP, Result, ScenarioError, StartWatch, workdir

CTL = ("ctl-rtt", "ctl-list", "ctl-concurrent", "ctl-circusctl", "ctl-stats")
FLOOR = "ctl-floor"
WATCHER = "sleepers"
RTT_COMMANDS = ("status", "numprocesses", "list")
RTT_CALLS = 3000  # per command, unless the budget runs out first
RTT_BUDGET = 4.0  # seconds per command
LIST_CALLS = 300
LIST_BUDGET = 5.0
CLIENTS = 20
CONCURRENT_SECONDS = 3.0
CLI_RUNS = 10
STATS_REPEATS = 3
STATS_BUDGET = 20.0  # seconds of stats calls at most (upstream needs several per call)
STATS_TIMEOUT = 180.0  # one stats call of circus 0.19 on 1000 processes took 34-78 s
READY_TIMEOUT = 30.0  # from all N running to the first status reply


@dataclasses.dataclass(frozen=True)
class CtlCommand:
    """How to run a daemon's own circusctl: argv before the options, and its env."""

    argv: tuple[str, ...]
    env: dict[str, str] = dataclasses.field(default_factory=dict)


def _venv_python() -> str:
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def _src_path() -> str:
    return os.pathsep.join(str(REPO / "packages" / pkg / "src")
                           for pkg in ("circus-core", "circus-ctl", "circus-stats"))


def for_ctl(spec: DaemonSpec, *, from_src: bool) -> tuple[DaemonSpec, CtlCommand]:
    """The daemon spec to run for the ctl scenarios, and its matching circusctl.

    From source, both the daemon and circusctl see circus-core and circus-ctl
    (the daemon may share the command declarations with the client package).
    """
    if spec.kind == "circus":
        return spec, CtlCommand((str(Path(spec.command[0]).parent / "circusctl"),))
    if from_src:
        env = {"PYTHONPATH": _src_path()}
        return (dataclasses.replace(spec, env=env),
                CtlCommand((_venv_python(), "-m", "circus.circusctl"), env))
    return spec, CtlCommand((str(REPO / ".venv" / "bin" / "circusctl"),))


def _endpoint(wd: Path) -> str:
    # Where _daemons._circus_config puts the control socket of both circus daemons.
    return f"ipc://{wd / 'ctl.sock'}"


def _alive(daemon: RunningDaemon) -> Callable[[], None]:
    def check() -> None:
        if not daemon.alive():
            raise ScenarioError(daemon.describe_death())
    return check


def run_ctl(spec: DaemonSpec, ctl: CtlCommand, n: int, *, measure: set[str],
            start_timeout: float = 120.0) -> Result:
    """Start ``n`` sleepers under ``spec``, then run the ``measure``d ctl scenarios."""
    # Other work on the machine shows in the tail latencies: keep the load with them.
    result: Result = {"n": n, "loadavg_1m": os.getloadavg()[0]}
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        with workdir(spec.label) as wd, launch(
                spec, wd, [Program(WATCHER, [SLEEP, "3600"], n)]) as daemon:
            _, sleepers = StartWatch(daemon, n).wait(start_timeout)
            endpoint = _endpoint(wd)
            alive = _alive(daemon)
            try:
                result["ready_after_start_s"] = wait_ready(ctx, endpoint, READY_TIMEOUT, alive)
            except CtlError as exc:
                alive()  # a dead daemon explains itself better than a timeout
                raise ScenarioError(str(exc)) from None
            steps: list[tuple[str, Callable[[], Result]]] = [
                ("ctl-rtt", lambda: _rtt(ctx, endpoint, n)),
                ("ctl-list", lambda: _list_pids(ctx, endpoint, n)),
                ("ctl-concurrent", lambda: concurrent_calls(
                    ctx, endpoint, clients=CLIENTS, seconds=CONCURRENT_SECONDS)),
                ("ctl-circusctl", lambda: _circusctl(ctl, endpoint)),
                ("ctl-stats", lambda: _stats(ctx, endpoint, n)),
            ]
            # One scenario failing (a command not implemented yet, a bad reply)
            # is recorded under "<scenario>_error" and the others still run.
            for name, step in steps:
                if name not in measure:
                    continue
                alive()
                try:
                    result.update(step())
                except CtlError as exc:
                    alive()
                    result[f"{name}_error"] = str(exc)
            alive()
            still = len(sleepers.alive())
            if still != n:
                result["note"] = f"only {still}/{n} sleepers still running after the scenarios"
            result["daemon_rss_mb"] = psutil.Process(daemon.pid).memory_info().rss / 2**20
    finally:
        ctx.destroy(linger=0)
    return result


def _check_cheap_replies(dealer: Dealer, n: int) -> None:
    """The replies timed by ``_rtt`` must say what the daemon runs, or timing them is moot."""
    statuses = dealer.call("status")[0].get("statuses")
    if not isinstance(statuses, dict) or statuses.get(WATCHER) != "active":
        raise CtlError(f"status: {WATCHER!r} not active in {str(statuses)[:80]}")
    count = dealer.call("numprocesses")[0].get("numprocesses")
    # circus 0.19 counts the processes it tracks, which may briefly exceed n
    # (it reported 1001 of 1000 here): only fewer than n is wrong.
    if not isinstance(count, int) or count < n:
        raise CtlError(f"numprocesses: {count!r}, expected {n}")
    watchers = dealer.call("list")[0].get("watchers")
    if not isinstance(watchers, list) or WATCHER not in watchers:
        raise CtlError(f"list: {WATCHER!r} not in {str(watchers)[:80]}")


def _rtt(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, n: int) -> Result:
    """Sequential round trips of the cheap read-only commands, one connection."""
    dealer = Dealer(ctx, endpoint)
    try:
        _check_cheap_replies(dealer, n)
        out: Result = {}
        for command in RTT_COMMANDS:
            samples = timed_calls(dealer, command, None, calls=RTT_CALLS, budget=RTT_BUDGET)
            out.update(latency_stats(command, samples))
        return out
    finally:
        dealer.close()


def _list_pids(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, n: int) -> Result:
    """``list sleepers``: a reply with all n pids, timed sequentially."""
    dealer = Dealer(ctx, endpoint)
    try:
        reply, _ = dealer.call("list", {"name": WATCHER})
        pids = reply.get("pids")
        if not isinstance(pids, list) or len(pids) != n:
            got = len(pids) if isinstance(pids, list) else repr(pids)[:60]
            raise CtlError(f"list {WATCHER}: {got} pids, expected {n}")
        samples = timed_calls(dealer, "list", {"name": WATCHER}, calls=LIST_CALLS,
                              budget=LIST_BUDGET, warmup=5)
        return latency_stats("list_pids", samples)
    finally:
        dealer.close()


def _circusctl(ctl: CtlCommand, endpoint: str) -> Result:
    """Wall time of whole ``circusctl status`` commands, process start to exit."""
    argv = [*ctl.argv, "--endpoint", endpoint, "status"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(ctl.env)
    times = []
    for i in range(CLI_RUNS + 1):  # the first run only warms the page cache
        t0 = time.perf_counter()
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CtlError(f"{argv[0]}: {exc}") from None
        elapsed = time.perf_counter() - t0
        if done.returncode != 0 or f"{WATCHER}: active" not in done.stdout:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CtlError(f"circusctl status exited {done.returncode}: {tail[0][:160]}")
        if i:
            times.append(elapsed)
    return {"circusctl_median_ms": 1000 * statistics.median(times),
            "circusctl_min_ms": 1000 * min(times), "circusctl_max_ms": 1000 * max(times)}


def _stats(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, n: int) -> Result:
    """``stats sleepers`` on one connection while another calls ``status`` back to back.

    Only status calls sent while a stats call was pending count; each stats
    call is repeated (within a budget) and the median time is reported.
    """
    stats_conn = Dealer(ctx, endpoint, timeout=STATS_TIMEOUT)
    status_conn = Dealer(ctx, endpoint, timeout=STATS_TIMEOUT)
    try:
        durations: list[float] = []
        during: list[float] = []
        budget_end = time.monotonic() + STATS_BUDGET
        while len(durations) < STATS_REPEATS and (not durations
                                                   or time.monotonic() < budget_end):
            durations.append(_one_stats(stats_conn, status_conn, n, during))
        if not during:
            raise CtlError("no status call completed while stats ran")
        ordered = sorted(during)
        return {"stats_s": statistics.median(durations), "stats_max_s": max(durations),
                "stats_calls": len(durations),
                "status_during_stats_p50_ms": 1000 * percentile(ordered, 50),
                "status_during_stats_p99_ms": 1000 * percentile(ordered, 99),
                "status_during_stats_max_ms": 1000 * ordered[-1],
                "status_during_stats_calls": len(ordered)}
    finally:
        stats_conn.close()
        status_conn.close()


def _one_stats(stats_conn: Dealer, status_conn: Dealer, n: int, during: list[float]) -> float:
    """One timed stats call; appends the overlapping status round trips to ``during``."""
    stats_frame, stats_id = request("stats", {"name": WATCHER, "extended": False})
    poller = zmq.Poller()
    poller.register(stats_conn.sock, zmq.POLLIN)
    poller.register(status_conn.sock, zmq.POLLIN)
    t0 = time.perf_counter()
    stats_conn.sock.send(stats_frame)
    status_frame, status_id = request("status")
    t_sent = time.perf_counter()
    status_conn.sock.send(status_frame)
    stats_s: float | None = None
    deadline = time.monotonic() + STATS_TIMEOUT
    while True:
        events = dict(poller.poll(1000))
        if stats_conn.sock in events:
            reply = check_reply(stats_conn.sock.recv(), stats_id, "stats")
            stats_s = time.perf_counter() - t0
            info = reply.get("info")
            if not isinstance(info, dict) or len(info) != n:
                got = len(info) if isinstance(info, dict) else repr(info)[:60]
                raise CtlError(f"stats {WATCHER}: {got} processes, expected {n}")
        if status_conn.sock in events:
            check_reply(status_conn.sock.recv(), status_id, "status")
            during.append(time.perf_counter() - t_sent)
            if stats_s is not None:
                return stats_s
            status_frame, status_id = request("status")
            t_sent = time.perf_counter()
            status_conn.sock.send(status_frame)
        if time.monotonic() > deadline:
            raise CtlError(f"stats {WATCHER}: no reply within {STATS_TIMEOUT:.0f}s")


# -- the floor ----------------------------------------------------------------------------


def run_floor() -> Result:
    """The same client against pyzmq echo servers, and bare interpreter start-up."""
    result: Result = {}
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        with workdir("floor") as wd:
            for name, script in (("blocking", ECHO_BLOCKING), ("asyncio", ECHO_ASYNCIO)):
                with echo_server(script, wd, f"echo-{name}") as endpoint:
                    try:
                        wait_ready(ctx, endpoint, READY_TIMEOUT)
                        dealer = Dealer(ctx, endpoint)
                        try:
                            samples = timed_calls(dealer, "status", None, calls=RTT_CALLS,
                                                  budget=RTT_BUDGET, warmup=200)
                        finally:
                            dealer.close()
                        result.update(latency_stats(f"{name}_echo", samples))
                        conc = concurrent_calls(ctx, endpoint, clients=CLIENTS,
                                                seconds=CONCURRENT_SECONDS)
                    except CtlError as exc:
                        raise ScenarioError(f"{name} echo server: {exc}") from None
                    result[f"{name}_echo_concurrent_calls_per_s"] = conc["calls_per_s"]
                    result[f"{name}_echo_concurrent_bench_cpu_pct"] = conc["bench_cpu_pct"]
    finally:
        ctx.destroy(linger=0)
    result.update(_interpreter_start())
    return result


def _interpreter_start() -> Result:
    """Median wall time of ``python -c pass`` and of ``python -c 'import zmq'``."""
    out: Result = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for key, code in (("python_start_ms", "pass"), ("python_zmq_start_ms", "import zmq")):
        times = []
        for i in range(CLI_RUNS + 1):
            t0 = time.perf_counter()
            subprocess.run([_venv_python(), "-c", code], env=env, check=True, timeout=60)
            if i:
                times.append(time.perf_counter() - t0)
        out[key] = 1000 * statistics.median(times)
    return out


def measured(only: set[str]) -> set[str]:
    """The ctl scenarios among ``only``."""
    return only & set(CTL)
