"""What CURVE costs: our circusd with ``curve_secret_key`` set against the same without.

* ``curve-query``: two daemons of N ``sleep`` processes each, CURVE off and
  on, run at once; one DEALER per daemon (a CURVE client with an admin key for
  the second) calls ``status``, in alternating blocks of 100 calls; the p50
  (and p99) round trip of each, and on / off. The handshake happens once, when the
  DEALER connects, before the timed calls: what is measured is the per-message
  cost (encryption, and reading each request's User-Id to find its role).
* ``curve-stats``: the ``stats-cpu`` scenario (circusd-stats with N processes,
  a subscriber reading every message) with and without CURVE: circusd-stats
  then talks CURVE to circusd and serves its stats endpoint with CURVE; the
  CPU of circusd-stats, on / off.

The stats pair runs off first, then on; the target of both ratios is 1.3
(issue 16). Results are reported; ``--check`` compares.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import stats_scenarios
import zmq
from _ctl_client import CtlError, Dealer, percentile
from _daemons import DaemonSpec, launch, with_ini
from scenarios import SLEEP, Result, ScenarioError, StartWatch, workdir

QUERY = "curve-query"
STATS = "curve-stats"
SCENARIOS = (QUERY, STATS)
QUERY_CALLS = 3000
QUERY_BUDGET = 4.0  # seconds of calls per daemon at most
QUERY_BLOCK = 100  # calls to one daemon before switching to the other
WATCHER = "sleepers"


@dataclass(frozen=True)
class Keys:
    """circusd's key pair and an admin client's, written as ``circusctl keygen`` does."""

    directory: Path
    server: tuple[bytes, bytes]
    client: tuple[bytes, bytes]

    def circus_lines(self) -> tuple[str, ...]:
        return (f"curve_secret_key = {self.directory / 'circusd.key_secret'}",
                f"curve_authorized_keys = {self.directory / 'authorized'}")

    def secure(self, sock: zmq.Socket[bytes]) -> None:
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server[0])
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.client[0])
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.client[1])


def _write(path: Path, public: bytes, secret: bytes | None, role: str | None) -> None:
    meta = f'    role = "{role}"\n' if role else ""
    text = f'metadata\n{meta}curve\n    public-key = "{public.decode()}"\n'
    if secret is not None:
        text += f'    secret-key = "{secret.decode()}"\n'
    path.write_text(text)


@contextmanager
def curve_keys() -> Iterator[Keys]:
    """Fresh keys in a private temp dir, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="circus-bench-curve-"))
    try:
        server, client = zmq.curve_keypair(), zmq.curve_keypair()
        _write(directory / "circusd.key_secret", *server, None)
        (directory / "authorized").mkdir()
        _write(directory / "authorized" / "bench.key", client[0], None, "admin")
        yield Keys(directory, server, client)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _query_config(wd: Path, n: int, extra: tuple[str, ...]) -> str:
    lines = ["[circus]", "loglevel = info", f"logoutput = {wd / 'daemon.log'}",
             "warmup_delay = 0", f"endpoint = ipc://{wd / 'ctl.sock'}",
             f"pubsub_endpoint = ipc://{wd / 'pub.sock'}", *extra, "",
             f"[watcher:{WATCHER}]", f"cmd = {SLEEP} 3600", f"numprocesses = {n}",
             "warmup_delay = 0", "graceful_timeout = 10"]
    return "\n".join(lines) + "\n"


@contextmanager
def _query_daemon(spec: DaemonSpec, n: int, keys: Keys | None, start_timeout: float,
                  ctx: zmq.Context[zmq.Socket[bytes]]) -> Iterator[Dealer]:
    """A daemon of ``n`` sleepers (CURVE on with ``keys``), and a ready DEALER on it."""
    extra = keys.circus_lines() if keys else ()
    with workdir(spec.label) as wd, launch(with_ini(spec, _query_config(wd, n, extra)),
                                           wd, []) as daemon:
        StartWatch(daemon, n).wait(start_timeout)
        dealer = Dealer(ctx, f"ipc://{wd / 'ctl.sock'}", secure=keys.secure if keys else None)
        try:
            _call_until_ready(dealer, daemon.alive)
            yield dealer
        finally:
            dealer.close()


def _call_until_ready(dealer: Dealer, alive: Callable[[], bool], timeout: float = 30.0) -> None:
    """``status`` once successfully (the handshake and circusd's start are behind us)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            dealer.call("status")
            return
        except CtlError as exc:
            if not alive():
                raise ScenarioError("the daemon died before answering") from None
            if time.monotonic() > deadline:
                raise ScenarioError(f"no status reply within {timeout:.0f}s: {exc}") from None


def run_query(spec: DaemonSpec, n: int, *, start_timeout: float = 120.0) -> Result:
    """``status`` p50 with CURVE off and on; their ratio (target <= 1.3).

    Both daemons run at once and the calls alternate between them in blocks,
    so that load from elsewhere on the machine weighs on both alike.
    """
    result: Result = {"n": n, "loadavg_1m": os.getloadavg()[0]}
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    times: dict[str, list[float]] = {"off": [], "on": []}
    try:
        with curve_keys() as keys, \
                _query_daemon(spec, n, None, start_timeout, ctx) as off, \
                _query_daemon(spec, n, keys, start_timeout, ctx) as on:
            deadline = time.monotonic() + 2 * QUERY_BUDGET
            while len(times["on"]) < QUERY_CALLS and time.monotonic() < deadline:
                for name, dealer in (("off", off), ("on", on)):
                    times[name] += [dealer.call("status")[1] for _ in range(QUERY_BLOCK)]
    finally:
        ctx.term()
    for name, values in times.items():
        values.sort()
        result[f"{name}_p50_ms"] = statistics.median(values) * 1000
        result[f"{name}_p99_ms"] = percentile(values, 99) * 1000
    result["calls_each"] = len(times["on"])
    result["p50_ratio"] = result["on_p50_ms"] / result["off_p50_ms"]
    return result


def run_stats(spec: DaemonSpec, n: int, *, seconds: float = 10.0) -> Result:
    """circusd-stats CPU with N processes, CURVE off then on; their ratio (target <= 1.3)."""
    off = stats_scenarios.run_stats_cpu(spec, n, seconds=seconds)
    with curve_keys() as keys:
        on = stats_scenarios.run_stats_cpu(spec, n, seconds=seconds,
                                           extra=keys.circus_lines(), secure=keys.secure)
    if not off.get("messages_per_s") or not on.get("messages_per_s"):
        raise ScenarioError("no stats received in one of the runs")
    return {"n": n, "off_cpu_pct": off["stats_cpu_pct"], "on_cpu_pct": on["stats_cpu_pct"],
            "off_messages_per_s": off["messages_per_s"],
            "on_messages_per_s": on["messages_per_s"],
            "cpu_ratio": on["stats_cpu_pct"] / off["stats_cpu_pct"]}
