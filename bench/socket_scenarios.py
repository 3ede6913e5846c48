"""Socket benchmarks: HTTP through a circus-bound socket, and on-demand start latency.

Both circus daemons (ours and circus 0.19) run the same generated config and
the same tiny HTTP app (``examples/web.py``), which accepts on
``--fd $(circus.sockets.NAME)``.

* ``sock-rps``: 2 workers on ``[socket:web]`` (``use_sockets = True``),
  against the same app binding the port itself in the same run: a pre-fork
  parent (``bench/_prefork.py``) binds one listening socket and starts 2
  workers that inherit it. That is the kernel setup circus makes (one socket,
  one accept queue, 2 acceptors), so only the socket's owner differs;
  SO_REUSEPORT would give each worker its own queue and a different balance,
  a different thing to measure. Client processes (``bench/_http_load.py``)
  send ``GET /`` on fresh connections to one target, then the other, in
  alternating slices (A B B A ...), so both get the same clients, CPU and
  moments of the run. The result is requests/s for each, and their ratio.
* ``sock-ondemand``: ``on_demand = True``, 1 worker. Once the daemon answers
  ``status`` and its socket is listening, with no worker running, the time
  from ``connect()`` to the first byte of the response. Each run is a fresh
  daemon; the row under it is the floor: the bench itself binds, connects
  and starts the app on the socket, no daemon in between.

Results are reported, never asserted.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import zmq
from _ctl_client import CtlError, wait_ready
from _daemons import REPO, DaemonSpec, RunningDaemon, launch, with_ini
from scenarios import Result, ScenarioError, workdir

RPS = "sock-rps"
ONDEMAND = "sock-ondemand"
SOCKETS = (RPS, ONDEMAND)
BENCH = Path(__file__).resolve().parent
EXAMPLE_APP = REPO / "examples" / "web.py"
WORKERS = 2
BACKLOG = 2048  # circus's default, written out so both daemons and the baseline agree
UPSTREAM_CHECK_DELAY = 5.0  # circus 0.19's default
READY_TIMEOUT = 30.0
SLICE_GAP = 0.1  # seconds between slices: the previous target's last requests finish
WARMUP = 0.5  # seconds per target before the measured slices, not counted
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def app_path() -> Path:
    """The app under test: the project's example pre-fork app."""
    return EXAMPLE_APP


def _app_argv(fd: str) -> list[str]:
    return [sys.executable, str(app_path()), "--fd", fd]


# -- configs ------------------------------------------------------------------------------


def socket_config(spec: DaemonSpec, workdir: Path, port: int, *, numprocesses: int,
                  on_demand: bool) -> str:
    """The circus.ini of one socket ``web`` on ``port`` and the app's watcher on it."""
    lines = ["[circus]", "loglevel = info", f"logoutput = {workdir / 'daemon.log'}",
             "warmup_delay = 0",
             f"endpoint = ipc://{workdir / 'ctl.sock'}",
             # No stats_endpoint: it makes circus 0.19 start a circusd-stats child.
             f"pubsub_endpoint = ipc://{workdir / 'pub.sock'}"]
    if spec.kind == "circus":
        delay = UPSTREAM_CHECK_DELAY if spec.check_delay is None else spec.check_delay
        lines.append(f"check_delay = {delay}")
    lines += ["", "[socket:web]", "host = 127.0.0.1", f"port = {port}",
              f"backlog = {BACKLOG}",
              "", "[watcher:web]", f"cmd = {' '.join(_app_argv('$(circus.sockets.web)'))}",
              "use_sockets = True", f"numprocesses = {numprocesses}", "warmup_delay = 0",
              "graceful_timeout = 10"]
    if on_demand:
        lines.append("on_demand = True")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- probes -------------------------------------------------------------------------------


def get(port: int, timeout: float = 5.0) -> bytes:
    """One ``GET /`` on a fresh connection; the whole raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(REQUEST)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def listening(port: int) -> bool:
    """Whether some socket listens on 127.0.0.1/0.0.0.0:``port`` (read from /proc, no connect)."""
    want = f":{port:04X}"
    try:
        with open("/proc/net/tcp") as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                if parts[1].endswith(want) and parts[3] == "0A":  # 0A = TCP_LISTEN
                    return True
    except OSError:
        return False
    return False


def _wait(what: str, check: object, daemon: RunningDaemon | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if callable(check) and check():
                return
        except OSError:
            pass
        if daemon is not None and not daemon.alive():
            raise ScenarioError(daemon.describe_death())
        if time.monotonic() > deadline:
            raise ScenarioError(f"{what} not within {timeout:.0f}s")
        time.sleep(0.02)


def app_workers(daemon: RunningDaemon) -> set[int]:
    """The daemon's children that run the app (not, say, a stats process)."""
    app = str(app_path()).encode()
    found = set()
    for pid in daemon.children():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if app in fh.read():
                    found.add(pid)
        except OSError:
            continue
    return found


def _serves(port: int) -> bool:
    return get(port, timeout=2.0).startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))


# -- requests per second ------------------------------------------------------------------


def _schedule(targets: Sequence[int], start: float, seconds: float,
              slices: int) -> list[tuple[int, float, float]]:
    """Warm-up on each target, then ``slices`` slices per target in A B B A order."""
    plan: list[tuple[int, float, float]] = []
    t = start
    for port in targets:
        plan.append((port, t, t + WARMUP))
        t += WARMUP + SLICE_GAP
    per_slice = seconds / slices
    order: list[int] = []
    for i in range(slices):
        order += list(targets) if i % 2 == 0 else list(reversed(targets))
    for port in order:
        plan.append((port, t, t + per_slice))
        t += per_slice + SLICE_GAP
    return plan


def _load(plan: list[tuple[int, float, float]], clients: int,
          timeout: float) -> list[list[dict[str, Any]]]:
    """Run ``clients`` load processes on ``plan``; each one's per-slice counts."""
    argv = [sys.executable, str(BENCH / "_http_load.py"), json.dumps(plan)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(clients)]
    out = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise ScenarioError(f"load client failed: {stderr.decode()[-200:]}")
            out.append(json.loads(stdout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def run_rps(spec: DaemonSpec, *, seconds: float = 5.0, clients: int = 4,
            slices: int = 10) -> Result:
    """Requests/s through ``spec``'s socket and through the self-bound app, side by side."""
    with workdir(spec.label) as wd:
        port_circus, port_self = free_port(), free_port()
        ini = socket_config(spec, wd, port_circus, numprocesses=WORKERS, on_demand=False)
        baseline = subprocess.Popen(
            [sys.executable, str(BENCH / "_prefork.py"), "--port", str(port_self),
             "--workers", str(WORKERS), "--backlog", str(BACKLOG), "--", *_app_argv("{fd}")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(wd / "prefork.err", "wb"),  # noqa: SIM115 - closed with the process
            # Its own session like the daemon's (and its workers get one each, as
            # circusd's do): with sched_autogroup the kernel shares CPU between
            # sessions, so any difference here would skew the ratio.
            start_new_session=True)
        try:
            with launch(with_ini(spec, ini), wd, []) as daemon:
                _wait(f"{WORKERS} workers of {spec.label}",
                      lambda: len(app_workers(daemon)) >= WORKERS, daemon, READY_TIMEOUT)
                _wait(f"{spec.label} answering on port {port_circus}",
                      lambda: _serves(port_circus), daemon, READY_TIMEOUT)
                _wait(f"the self-bound app answering on port {port_self}",
                      lambda: baseline.poll() is None and _serves(port_self), None,
                      READY_TIMEOUT)
                targets = (port_circus, port_self)
                plan = _schedule(targets, time.monotonic() + 1.0, seconds, slices)
                daemon_proc = psutil.Process(daemon.pid)
                cpu0 = sum(daemon_proc.cpu_times()[:2])
                counts = _load(plan, clients, timeout=plan[-1][2] - time.monotonic() + 30)
                # circusd should take no part in the data path: its own CPU says so.
                daemon_cpu = sum(daemon_proc.cpu_times()[:2]) - cpu0
                if not daemon.alive():
                    raise ScenarioError(daemon.describe_death())
                workers = app_workers(daemon)
        finally:
            baseline.terminate()
            try:
                baseline.wait(timeout=10)
            except subprocess.TimeoutExpired:
                baseline.kill()
                baseline.wait()
    result = _rps_result(plan, counts, targets, workers)
    result["daemon_cpu_pct"] = 100.0 * daemon_cpu / (plan[-1][2] - plan[0][1])
    return result


@dataclasses.dataclass
class _Tally:
    """Requests of one target, summed over its measured slices and every client."""

    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    pids: set[int] = dataclasses.field(default_factory=set)


def _rps_result(plan: list[tuple[int, float, float]], counts: list[list[dict[str, Any]]],
                targets: tuple[int, int], workers: set[int]) -> Result:
    names = {targets[0]: "circus", targets[1]: "self"}
    tally = {name: _Tally() for name in names.values()}
    errors: list[str] = []
    for i, (port, start, end) in enumerate(plan):
        if i < len(targets):
            continue  # warm-up slices
        tot = tally[names[port]]
        tot.seconds += end - start
        for client in counts:
            got = client[i]
            tot.ok += int(got["ok"])
            tot.failed += int(got["failed"])
            tot.pids.update(int(p) for p in got["pids"])
            if got["first_error"]:
                errors.append(f"{names[port]}: {got['first_error']}")
    result: Result = {}
    for name, tot in tally.items():
        result[f"rps_{name}"] = tot.ok / tot.seconds
        result[f"failed_{name}"] = tot.failed
        result[f"workers_seen_{name}"] = len(tot.pids)
    result["ratio"] = (result["rps_circus"] / result["rps_self"]
                       if result["rps_self"] else None)
    # The answers through the circus socket must come from the daemon's own workers.
    result["circus_workers_are_daemon_children"] = bool(
        tally["circus"].pids) and tally["circus"].pids <= workers
    result["app"] = str(app_path().relative_to(REPO))
    if errors:
        result["note"] = f"failed requests, e.g. {errors[0]}"
    return result


# -- on-demand start ----------------------------------------------------------------------


def _first_byte(port: int) -> tuple[float, bytes]:
    """Seconds from connect() to the response's first byte, and the whole response."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(REQUEST)
        first = conn.recv(65536)
        t1 = time.monotonic()
        chunks = [first]
        while first and (chunk := conn.recv(65536)):
            chunks.append(chunk)
    return t1 - t0, b"".join(chunks)


def _ondemand_once(spec: DaemonSpec, ctx: zmq.Context[zmq.Socket[bytes]],
                   offset: float) -> Result:
    """One fresh daemon: ready, idle for ``offset`` s, then the first connection."""
    with workdir(spec.label) as wd:
        port = free_port()
        ini = socket_config(spec, wd, port, numprocesses=1, on_demand=True)
        with launch(with_ini(spec, ini), wd, []) as daemon:

            def alive() -> None:
                if not daemon.alive():
                    raise ScenarioError(daemon.describe_death())

            try:
                wait_ready(ctx, f"ipc://{wd / 'ctl.sock'}", READY_TIMEOUT, alive)
            except CtlError as exc:
                alive()
                raise ScenarioError(str(exc)) from None
            _wait(f"{spec.label} listening on port {port}", lambda: listening(port), daemon,
                  READY_TIMEOUT)
            time.sleep(offset)
            alive()
            early = len(app_workers(daemon))
            cold, raw = _first_byte(port)
            if not raw.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                raise ScenarioError(f"on-demand answer was {raw[:60]!r}")
            warm, _ = _first_byte(port)
            return {"cold_ms": cold * 1000, "warm_ms": warm * 1000,
                    "started_before_connect": early}


def floor_first_byte() -> float:
    """connect() -> first byte when the bench binds and starts the app itself, no daemon."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(BACKLOG)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.monotonic()
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            conn.sendall(REQUEST)  # queued in the backlog, like the daemon's first client
            proc = subprocess.Popen(_app_argv(str(listener.fileno())),
                                    pass_fds=(listener.fileno(),),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not conn.recv(65536):
                raise ScenarioError("the app closed the floor connection without answering")
            return time.monotonic() - t0
        finally:
            conn.close()
    finally:
        listener.close()
        if proc is not None:
            proc.terminate()
            proc.wait()


def run_ondemand(spec: DaemonSpec, *, runs: int = 3) -> Result:
    """Median connect -> first byte of an on-demand watcher over ``runs`` fresh daemons."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    samples: list[Result] = []
    try:
        for i in range(runs):
            # circus 0.19 only looks at its sockets every check_delay: a client
            # arriving at a random moment waits a uniform share of it. The first
            # connection comes at stratified moments across one check_delay after
            # the daemon is ready (the same moments for every daemon), so the
            # median is neither the best nor the worst case.
            offset = (i + 0.5) / runs * UPSTREAM_CHECK_DELAY
            samples.append(_ondemand_once(spec, ctx, offset))
    finally:
        ctx.destroy(linger=0)
    cold = [s["cold_ms"] for s in samples]
    floor = statistics.median(floor_first_byte() for _ in range(runs))
    result: Result = {"runs": runs, "first_byte_ms": statistics.median(cold),
                      "first_byte_min_ms": min(cold), "first_byte_max_ms": max(cold),
                      "warm_ms": statistics.median(s["warm_ms"] for s in samples),
                      "floor_first_byte_ms": floor * 1000,
                      "app": str(app_path().relative_to(REPO))}
    early = sum(s["started_before_connect"] for s in samples)
    if early:
        result["note"] = (f"{early} worker(s) already running before the first connection "
                          f"(on_demand not honoured)")
    return result
