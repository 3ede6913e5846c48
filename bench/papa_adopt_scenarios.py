"""circusd with ``use_papa``: adoption after a restart, the cost of papa, output through it.

Ours only (upstream dropped papa in 0.18). Every run has its own temp dir and
a private kernel at ``ipc://<dir>/papa.sock``, which circusd starts itself.
That kernel and the processes it hosts outlive circusd by design: the bench
is a child subreaper, so they are re-parented to it, and every run ends by
killing them (by pid, from the kernel's own ``stats`` and ``list processes``)
before the generic cleanup reaps whatever is left.

Scenarios:

* ``papa-adopt``: N sleepers under papa; circusd gets SIGTERM (papa
  processes stay up); a new circusd starts on the same config. Time from its
  launch until ``status`` answers, and until ``list`` shows all N pids, the
  same ones as before.
* ``papa-overhead``: the same N sleepers, idle, once plain and once under
  papa: circusd's CPU and RSS in both runs, and the papa kernel's.
* ``papa-output``: 4 writers write numbered 100-byte lines flat out into one
  FileStream, through direct pipes, through papa (which hands the output
  sockets to circusd), and through papa relaying every byte over the watch
  connections (``CIRCUS_PAPA_NO_HANDOVER=1``, the path before the handover),
  measured by the same code as the ``log`` scenario (``scenarios.WRITER`` and
  its line check); the ratio papa / direct.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _proc
import psutil
import zmq
from _ctl_client import CtlError, Dealer, wait_ready
from _daemons import DaemonSpec
from scenarios import LINE_LEN, SETTLE, SLEEP, WRITER, Result, ScenarioError, _verify_lines, workdir

ADOPT, OVERHEAD, OUTPUT = "papa-adopt", "papa-overhead", "papa-output"
SCENARIOS = (ADOPT, OVERHEAD, OUTPUT)
OUTPUT_WRITERS = 4
OUTPUT_ROUNDS = 3  # direct and papa alternate; medians are reported
START_TIMEOUT = 120.0
PROMPT = b"\n> "


# -- the config and the daemons -------------------------------------------------------------


def _ini(wd: Path, *, papa: bool, cmd: str, n: int, stdout_file: Path | None = None) -> str:
    """The same config as the other circusd scenarios, plus ``use_papa`` when *papa*."""
    lines = ["[circus]", "loglevel = info", f"logoutput = {wd / 'daemon.log'}",
             "warmup_delay = 0", f"endpoint = ipc://{wd / 'ctl.sock'}",
             f"pubsub_endpoint = ipc://{wd / 'pub.sock'}"]
    if papa:
        lines.append(f"papa_endpoint = ipc://{wd / 'papa.sock'}")
    lines += ["", "[watcher:w]", f"cmd = {cmd}", f"numprocesses = {n}", "warmup_delay = 0",
              "graceful_timeout = 10"]
    if papa:
        lines.append("use_papa = true")
    if stdout_file is not None:
        lines += ["stdout_stream.class = FileStream", f"stdout_stream.filename = {stdout_file}"]
    return "\n".join(lines) + "\n"


@dataclass
class Circusd:
    """One circusd process of a run (a run may start several on one config)."""

    popen: subprocess.Popen[bytes]
    launched: float
    endpoint: str
    log: Path

    def alive(self) -> None:
        """Raise ScenarioError, with the end of its log, if circusd has exited."""
        if self.popen.poll() is not None:
            tail = " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
            raise ScenarioError(f"circusd exited with {self.popen.returncode}: {tail}")


class Run:
    """The daemons and the papa kernel of one scenario run; :meth:`kill` ends them all."""

    def __init__(self, spec: DaemonSpec, wd: Path, ini: str,
                 env: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.env = env or {}
        self.wd = wd
        self.config = wd / "circus.ini"
        self.config.write_text(ini)
        self.endpoint = f"ipc://{wd / 'ctl.sock'}"
        self.papa_path = wd / "papa.sock"
        self.daemons: list[Circusd] = []
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()

    def start(self) -> Circusd:
        """Launch circusd on the run's config (not waiting for anything)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(self.spec.env)
        env.update(self.env)
        log = self.wd / f"daemon-{len(self.daemons)}.out"
        with open(log, "wb") as out:
            launched = time.monotonic()
            popen = subprocess.Popen([*self.spec.command, str(self.config)], cwd=self.wd,
                                     env=env, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        daemon = Circusd(popen, launched, self.endpoint, log)
        self.daemons.append(daemon)
        return daemon

    def pids(self, timeout: float = 10.0) -> list[int]:
        """``list w`` on a fresh connection."""
        dealer = Dealer(self.ctx, self.endpoint, timeout=timeout)
        try:
            reply, _ = dealer.call("list", {"name": "w"})
        finally:
            dealer.close()
        return [int(pid) for pid in reply.get("pids", [])]

    def wait_listed(self, daemon: Circusd, n: int, timeout: float = START_TIMEOUT,
                    expected: set[int] | None = None) -> tuple[float, list[int]]:
        """Poll ``list`` until it shows *n* pids (exactly *expected*, if given); when, and them."""
        deadline = time.monotonic() + timeout
        pids: list[int] = []
        while True:
            daemon.alive()
            with contextlib.suppress(CtlError):
                pids = self.pids()
            if len(pids) == n and (expected is None or set(pids) == expected):
                return time.monotonic(), pids
            if time.monotonic() > deadline:
                raise ScenarioError(f"list shows {len(pids)}/{n} pids after {timeout:.0f}s"
                                    + ("" if expected is None else
                                       f", {len(set(pids) & expected)} of them adopted"))
            time.sleep(0.01)

    def stop(self, daemon: Circusd, timeout: float = 60.0) -> float:
        """SIGTERM *daemon* and wait for its exit; the seconds that took."""
        t0 = time.monotonic()
        daemon.popen.send_signal(signal.SIGTERM)
        try:
            daemon.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ScenarioError(f"circusd did not exit {timeout:.0f}s after SIGTERM") from None
        return time.monotonic() - t0

    def papa(self, command: str) -> str:
        """The private kernel's reply to *command* (raw protocol, no auto-start)."""
        reply = papa_command(self.papa_path, command)
        if reply is None:
            raise ScenarioError(f"no papa kernel answers on {self.papa_path}")
        return reply

    def papa_pid(self) -> int:
        return int(_pairs(self.papa("stats"))["pid"])

    def kill(self) -> None:
        """SIGKILL every circusd, the kernel and everything it hosts."""
        for daemon in self.daemons:
            _proc.kill_and_reap(daemon.popen)
        hosted: list[int] = []
        kernel = None
        if papa_command(self.papa_path, "stats", timeout=2) is not None:
            kernel = self.papa_pid()
            hosted = [int(_pairs(line)["pid"]) for line in
                      self.papa("list processes").splitlines() if " pid=" in line]
        _proc.kill_all(hosted + ([kernel] if kernel else []))
        _proc.cleanup_descendants()


@contextlib.contextmanager
def papa_run(spec: DaemonSpec, label: str, ini_for: Any,
             env: dict[str, str] | None = None) -> Iterator[Run]:
    """A :class:`Run` in a fresh temp dir; ``ini_for(wd)`` gives its config, ``env``
    circusd's extra environment."""
    with workdir(label) as wd:
        run = Run(spec, wd, ini_for(wd), env)
        try:
            yield run
        finally:
            run.kill()


def papa_command(path: Path, command: str, timeout: float = 10.0) -> str | None:
    """One command to the kernel on unix socket *path*; its reply, or None if none answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        for send in (None, command):
            if send is not None:
                sock.sendall(send.encode() + b"\n")
            data = b""
            while not data.endswith(PROMPT):
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return None
                data += chunk
        sock.sendall(b"quit\n")
        return data[: -len(PROMPT)].decode(errors="replace")
    except OSError:
        return None
    finally:
        sock.close()


def _pairs(line: str) -> dict[str, str]:
    """The ``key=value`` words of one stats or listing line (``args=`` and after dropped)."""
    return dict(word.split("=", 1) for word in line.split(" args=", 1)[0].split()
                if "=" in word)


# -- adopt + overhead ---------------------------------------------------------------------


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _idle(procs: dict[str, psutil.Process], seconds: float) -> dict[str, float]:
    """Each process's CPU over *seconds* in % of one core, then its RSS in MiB."""
    before = {name: _cpu_seconds(proc) for name, proc in procs.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    result = {}
    for name, proc in procs.items():
        result[f"{name}_cpu_pct"] = 100.0 * (_cpu_seconds(proc) - before[name]) / wall
        result[f"{name}_rss_mb"] = proc.memory_info().rss / 2**20
    return result


def _sleepers(papa: bool, n: int) -> Any:
    return lambda wd: _ini(wd, papa=papa, cmd=f"{SLEEP} 3600", n=n)


def run_plain(spec: DaemonSpec, n: int, idle_seconds: float) -> Result:
    """N sleepers without papa: circusd's idle CPU and RSS (the baseline of the overhead)."""
    with papa_run(spec, spec.label, _sleepers(False, n)) as run:
        daemon = run.start()
        wait_ready(run.ctx, run.endpoint, 30, daemon.alive)
        run.wait_listed(daemon, n)
        time.sleep(SETTLE)
        return _idle({"circusd": psutil.Process(daemon.popen.pid)}, idle_seconds)


def run_adopt(spec: DaemonSpec, n: int, *, measure: set[str], idle_seconds: float) -> Result:
    """N sleepers under papa: optionally idle CPU/RSS, then SIGTERM and a new circusd adopting."""
    result: Result = {"n": n}
    with papa_run(spec, spec.label, _sleepers(True, n)) as run:
        first = run.start()
        wait_ready(run.ctx, run.endpoint, 30, first.alive)
        listed, pids = run.wait_listed(first, n)
        result["first_start_s"] = listed - first.launched
        if OVERHEAD in measure:
            time.sleep(SETTLE)
            procs = {"circusd": psutil.Process(first.popen.pid),
                     "papa": psutil.Process(run.papa_pid())}
            result.update(_idle(procs, idle_seconds))
        if ADOPT in measure:
            kernel = run.papa_pid()
            result["quit_s"] = run.stop(first)
            tracked = _proc.Tracked()
            for pid in pids:
                tracked.add(pid)
            if len(tracked.alive()) != n:
                raise ScenarioError(f"only {len(tracked.alive())}/{n} papa processes "
                                    "survived circusd's SIGTERM")
            second = run.start()
            result["status_s"] = wait_ready(run.ctx, run.endpoint, 30, second.alive)
            adopted, _ = run.wait_listed(second, n, timeout=60, expected=set(pids))
            result["adopt_s"] = adopted - second.launched
            if run.papa_pid() != kernel:
                raise ScenarioError("the papa kernel was replaced")
            if len(tracked.alive()) != n:
                raise ScenarioError("papa processes died during the adoption")
    return result


def run_overhead(spec: DaemonSpec, n: int, *, idle_seconds: float,
                 papa_result: Result | None = None) -> Result:
    """Plain vs papa at N sleepers: circusd CPU and RSS in both, the kernel's, the extras.

    *papa_result* is a :func:`run_adopt` result that measured the papa side already.
    """
    papa = papa_result or run_adopt(spec, n, measure={OVERHEAD}, idle_seconds=idle_seconds)
    plain = run_plain(spec, n, idle_seconds)
    result: Result = {"n": n, "plain_circusd_cpu_pct": plain["circusd_cpu_pct"],
                      "plain_circusd_rss_mb": plain["circusd_rss_mb"]}
    for key in ("circusd_cpu_pct", "circusd_rss_mb", "papa_cpu_pct", "papa_rss_mb"):
        result[f"papa_{key}" if key.startswith("circusd") else key] = papa[key]
    result["extra_circusd_cpu_pct"] = papa["circusd_cpu_pct"] - plain["circusd_cpu_pct"]
    result["extra_circusd_rss_mb"] = papa["circusd_rss_mb"] - plain["circusd_rss_mb"]
    result["extra_cpu_pct"] = result["extra_circusd_cpu_pct"] + papa["papa_cpu_pct"]
    result["extra_rss_mb"] = result["extra_circusd_rss_mb"] + papa["papa_rss_mb"]
    return result


# -- output throughput --------------------------------------------------------------------


def _throughput(spec: DaemonSpec, *, papa: bool, mb_per_writer: int, relay: bool = False,
                timeout: float = 180.0) -> Result:
    """MiB/s of the writers into one FileStream, through papa or direct pipes.

    As the ``log`` scenario: the clock starts when all writers have their
    lines ready and are told to go, and stops when the last byte is in the
    file; then every line is checked (lost, torn, doubled).
    """
    nbytes = mb_per_writer * 2**20 // LINE_LEN * LINE_LEN
    expected = OUTPUT_WRITERS * nbytes
    label = f"{spec.label} {('relay' if relay else 'papa') if papa else 'direct'}"

    def ini(wd: Path) -> str:
        (wd / "writer.py").write_text(WRITER)
        cmd = f"{sys.executable} {wd / 'writer.py'} $(circus.wid) {nbytes} {wd}"
        return _ini(wd, papa=papa, cmd=cmd, n=OUTPUT_WRITERS, stdout_file=wd / "out.log")

    with papa_run(spec, label, ini, {"CIRCUS_PAPA_NO_HANDOVER": "1"} if relay else None) as run:
        wd = run.wd
        daemon = run.start()
        deadline = time.monotonic() + timeout
        while len(list(wd.glob("ready.*"))) < OUTPUT_WRITERS:
            daemon.alive()
            if time.monotonic() > deadline:
                raise ScenarioError("writers never got ready")
            time.sleep(0.01)
        if papa:  # the writers must really be papa's, or this would measure direct pipes
            hosted = [line for line in run.papa("list processes").splitlines() if line]
            if len(hosted) != OUTPUT_WRITERS:
                raise ScenarioError(f"papa hosts {len(hosted)} processes, not the "
                                    f"{OUTPUT_WRITERS} writers")
        out = wd / "out.log"
        t0 = time.monotonic()
        (wd / "go").touch()
        size = last_size = 0
        last_growth = t0
        while True:
            size = out.stat().st_size if out.exists() else 0
            now = time.monotonic()
            if size != last_size:
                last_size, last_growth = size, now
            if size >= expected:
                break
            done = len(list(wd.glob("done.*"))) == OUTPUT_WRITERS
            if (done and now - last_growth > 1.0) or now > deadline:
                break  # bytes were lost: stop waiting for them
            daemon.alive()
            time.sleep(0.005)
        elapsed = last_growth - t0
        counts = _verify_lines([out], OUTPUT_WRITERS, nbytes // LINE_LEN)
    return {"bytes": size, "expected_bytes": expected, "seconds": elapsed,
            "mb_per_s": size / 2**20 / elapsed if elapsed > 0 else None, **counts}


def run_output(spec: DaemonSpec, *, mb_per_writer: int, rounds: int = OUTPUT_ROUNDS) -> Result:
    """Direct, papa and papa relaying in turn, *rounds* times each; medians and the ratios."""
    runs: dict[str, list[Result]] = {"direct": [], "papa": [], "relay": []}
    for _ in range(rounds):
        for kind in runs:
            runs[kind].append(_throughput(spec, papa=kind != "direct", relay=kind == "relay",
                                          mb_per_writer=mb_per_writer))
    result: Result = {"writers": OUTPUT_WRITERS, "mb_per_writer": mb_per_writer, "runs": runs}
    for kind, results in runs.items():
        rates = [r["mb_per_s"] for r in results if isinstance(r.get("mb_per_s"), float)]
        result[f"{kind}_mb_per_s"] = statistics.median(rates) if rates else None
        for key in ("lost_lines", "torn_lines", "duplicate_lines"):
            result[f"{kind}_{key}"] = sum(r[key] for r in results)
    direct, papa = result["direct_mb_per_s"], result["papa_mb_per_s"]
    result["papa_over_direct"] = papa / direct if direct and papa else None
    relay = result["relay_mb_per_s"]
    result["relay_lost_torn"] = result["relay_lost_lines"] + result["relay_torn_lines"]
    result["relay_over_direct"] = relay / direct if direct and relay else None
    return result
