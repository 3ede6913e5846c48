"""The plugin benchmarks: circus-plugins against circus 0.19's own plugins.

Both circus daemons run the same config with ``[plugin:NAME]`` sections, so
each runs its own plugins (ours from circus-plugins, circus 0.19 its own
``circus.plugins``) as watchers ``plugin:NAME``. The bench only talks to the
daemon (raw control client, event channel) and watches processes and files:

* ``plugin-cpu``: N sleepers, a ``ticker`` watcher the bench drives with
  ``incr``/``decr`` at 10 events/s, flapping and statsd plugins; the CPU of
  each plugin process over a window.
* ``plugin-flapping``: the bench SIGKILLs both processes of a watcher; the
  time from the arrival of the last of their ``reap`` events to the arrival
  of the watcher's ``stop`` event, both on the bench's own subscriber.
* ``plugin-watchdog``: processes send UDP heartbeats, the bench silences
  them one by one; the time from the moment a process became overdue (its
  last heartbeat + ``loop_rate * max_count``) to the SIGTERM it received.
* ``plugin-statsd``: a burst of 1000 events/s, every event the daemon
  published (counted by the bench's subscriber) against the counters Etsy's
  statsd holds afterwards.

See bench/README.md, "Plugins", for the exact definitions.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _ctl_client as ctl
import _proc
import psutil
import zmq
from _daemons import REPO, DaemonSpec, RunningDaemon, launch, with_ini
from _statsd_peer import EtsyStatsd
from scenarios import Result, ScenarioError, workdir

CPU = "plugin-cpu"
FLAPPING = "plugin-flapping"
WATCHDOG = "plugin-watchdog"
STATSD = "plugin-statsd"
SCENARIOS = (CPU, FLAPPING, WATCHDOG, STATSD)
STATSD_PEER = "plugin-statsd-peer"  # result group: circus 0.19's plugin on our circusd

SLEEP = shutil.which("sleep") or "/bin/sleep"
EVENTS_PER_S = 10.0  # plugin-cpu
SETTLE = 3.0  # plugin-cpu: seconds of events before the CPU window
WATCHDOG_LOOP_RATE = 1.0
WATCHDOG_MAX_COUNT = 2
WATCHDOG_PROCS = 10  # silenced one by one, spread over one loop_rate
HEARTBEAT_EVERY = 0.1
BURST_RATE = 1000.0  # plugin-statsd: events/s
BURST_SECONDS = 3.0
BURST_STEP = 50  # processes per incr/decr of the burst
APP = "bench"  # statsd application_name
FLAPPING_CLASS = "circus.plugins.flapping.Flapping"
STATSD_CLASS = "circus.plugins.statsd.StatsdEmitter"
WATCHDOG_CLASS = "circus.plugins.watchdog.WatchDog"
UPSTREAM_CHECK_DELAY = 5.0  # circus 0.19's default


def for_plugins(spec: DaemonSpec, *, from_src: bool) -> DaemonSpec:
    """From source, our circusd and the plugins it starts see every package's src/."""
    if spec.kind != "ours" or not from_src:
        return spec
    path = os.pathsep.join(str(REPO / "packages" / pkg / "src")
                           for pkg in ("circus-core", "circus-ctl", "circus-plugins"))
    return dataclasses.replace(spec, env={"PYTHONPATH": path})


def _config(spec: DaemonSpec, wd: Path, body: str) -> str:
    """[circus] with ipc endpoints in ``wd``, then ``body`` (watchers and plugins)."""
    lines = ["[circus]", "loglevel = info", f"logoutput = {wd / 'daemon.log'}",
             "warmup_delay = 0", f"endpoint = ipc://{wd / 'ctl.sock'}",
             f"pubsub_endpoint = ipc://{wd / 'pub.sock'}"]
    if spec.kind == "circus":
        delay = UPSTREAM_CHECK_DELAY if spec.check_delay is None else spec.check_delay
        lines.append(f"check_delay = {delay}")
    return "\n".join(lines) + "\n\n" + body


def _watcher(name: str, cmd: str, n: int, *extra: str) -> str:
    return "\n".join([f"[watcher:{name}]", f"cmd = {cmd}", f"numprocesses = {n}",
                      "warmup_delay = 0", "graceful_timeout = 10", *extra]) + "\n\n"


def _plugin(name: str, cls: str, **options: object) -> str:
    return "\n".join([f"[plugin:{name}]", f"use = {cls}",
                      *(f"{k} = {v}" for k, v in options.items())]) + "\n\n"


class _Events:
    """The bench's own subscriber to ``watcher.<name>.`` events: (arrival, event, payload)."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], wd: Path, watcher: str) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 0)  # the bench must never be where events drop
        self.prefix = f"watcher.{watcher}.".encode()
        self.sock.setsockopt(zmq.SUBSCRIBE, self.prefix)
        self.sock.connect(f"ipc://{wd / 'pub.sock'}")
        self.got: list[tuple[float, str, dict[str, Any]]] = []

    def pump(self, timeout: float = 0.0) -> int:
        """Read what has arrived, waiting up to ``timeout`` for the first; how many."""
        count = 0
        if not self.sock.poll(int(timeout * 1000)):
            return 0
        while True:
            try:
                topic, body = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return count
            payload = json.loads(body)
            event = topic[len(self.prefix):].decode()
            self.got.append((time.monotonic(), event, payload if isinstance(payload, dict)
                             else {}))
            count += 1

    def close(self) -> None:
        self.sock.close()


def _wait(what: str, check: Callable[[], Any], daemon: RunningDaemon, timeout: float,
          every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if not daemon.alive():
            raise ScenarioError(daemon.describe_death())
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def _plugin_process(daemon: RunningDaemon, cls: str) -> psutil.Process | None:
    """The daemon's child running plugin class ``cls`` (both daemons: ``plugins.main()``)."""
    for pid in daemon.children():
        try:
            proc = psutil.Process(pid)
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if argv and argv[-1] == cls and any("plugins.main()" in a for a in argv):
            return proc
    return None


def _pids(dealer: ctl.Dealer, watcher: str) -> list[int]:
    try:
        reply, _ = dealer.call("list", {"name": watcher})
    except ctl.CtlError:
        return []
    return [int(p) for p in reply.get("pids") or []]


def _cpu_s(proc: psutil.Process) -> float:
    """CPU seconds of every live thread of ``proc``, from the scheduler's ns counters.

    psutil's cpu_times() counts 10 ms clock ticks: over 20 s that is 0.05 % of
    a core, the size of what is measured here.
    """
    total = 0
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e9


class _Session:
    """A launched daemon with a control connection and the bench's event subscriber."""

    def __init__(self, daemon: RunningDaemon, wd: Path, watcher: str) -> None:
        self.daemon = daemon
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        endpoint = f"ipc://{wd / 'ctl.sock'}"
        ctl.wait_ready(self.ctx, endpoint, 60, alive=self._alive)
        self.dealer = ctl.Dealer(self.ctx, endpoint)
        self.events = _Events(self.ctx, wd, watcher)

    def _alive(self) -> None:
        if not self.daemon.alive():
            raise ScenarioError(self.daemon.describe_death())

    def plugin(self, cls: str) -> psutil.Process:
        proc: psutil.Process = _wait(f"the plugin process {cls}",
                                     lambda: _plugin_process(self.daemon, cls), self.daemon,
                                     60, every=0.1)
        return proc

    def close(self) -> None:
        self.events.close()
        self.dealer.close()
        self.ctx.term()


def _try(dealer: ctl.Dealer, command: str, props: dict[str, Any]) -> bool:
    """Send one command; False if circus 0.19 refused it while busy with another."""
    try:
        dealer.call(command, props)
    except ctl.CtlError as exc:
        # circus 0.19 runs one watcher command at a time and rejects the rest.
        if "already running" not in str(exc):
            raise
        return False
    return True


def _paced(session: _Session, watcher: str, rate: float, seconds: float, nb: int,
           tick: Callable[[], None] | None = None) -> int:
    """Drive ``incr``/``decr`` of ``watcher`` so that ``rate`` of its events/s are published.

    The next command goes out whenever the events seen so far fall behind the
    rate; returns the number of events seen over ``seconds``.
    """
    seen = 0
    began = time.monotonic()
    up = True
    while (now := time.monotonic()) - began < seconds:
        seen += session.events.pump(0.005)
        if tick is not None:
            tick()
        if seen < rate * (now - began):
            command = "incr" if up else "decr"
            props: dict[str, Any] = {"name": watcher}
            if nb > 1:
                props["nb"] = nb
            if not _try(session.dealer, command, props):
                continue  # circus 0.19 is busy with the previous command: retry it
            up = not up
            # Let the command's events arrive before deciding on the next one.
            before, until = seen, time.monotonic() + 0.1
            while seen - before < nb and time.monotonic() < until:
                seen += session.events.pump(0.005)
    return seen


# -- plugin-cpu ------------------------------------------------------------------------------

# The floor: what any Python process pays to receive each event and send one
# counter, with no plugin runtime. Both get the endpoint and the UDP port as
# arguments; one blocks in recv, the other runs tornado's ZMQStream as both
# plugin runtimes do.
_FLOOR_BARE = """\
import json, socket, sys, zmq
sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"watcher.")
sub.connect(sys.argv[1])
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    topic, body = sub.recv_multipart()
    json.loads(body)
    udp.sendto(b"floor." + topic + b":1|c", ("127.0.0.1", int(sys.argv[2])))
"""
_FLOOR_TORNADO = """\
import json, socket, sys, zmq
from tornado.ioloop import IOLoop
from zmq.eventloop.zmqstream import ZMQStream
sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"watcher.")
sub.connect(sys.argv[1])
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

def received(msg):
    json.loads(msg[1])
    udp.sendto(b"floor." + msg[0] + b":1|c", ("127.0.0.1", int(sys.argv[2])))

ZMQStream(sub).on_recv(received)
IOLoop.current().start()
"""
FLOORS = {"floor_bare": _FLOOR_BARE, "floor_tornado": _FLOOR_TORNADO}


def run_cpu(spec: DaemonSpec, n: int, *, seconds: float = 20.0, rate: float = EVENTS_PER_S,
            floor: bool = False) -> Result:
    """CPU % of the flapping and statsd plugin processes: ``n`` sleepers, 10 events/s.

    With ``floor``, the FLOORS processes follow the same events meanwhile.
    """
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    packets = 0
    floors: list[subprocess.Popen[bytes]] = []

    def drain() -> None:
        nonlocal packets
        while True:
            try:
                sink.recv(4096)
            except BlockingIOError:
                return
            packets += 1

    try:
        with workdir(spec.label) as wd:
            body = (_watcher("sleepers", f"{SLEEP} 3600", n)
                    # Its commanded deaths must never trip circus 0.19's flapping (#965).
                    + _watcher("ticker", f"{SLEEP} 3600", 1, "flapping.attempts = 1000000")
                    + _plugin("flapping", FLAPPING_CLASS)
                    + _plugin("statsd", STATSD_CLASS, host="127.0.0.1",
                              port=sink.getsockname()[1], application_name=APP))
            with launch(with_ini(spec, _config(spec, wd, body)), wd, []) as daemon:
                session = _Session(daemon, wd, "ticker")
                try:
                    began = time.monotonic()
                    _wait(f"{n} sleepers", lambda: len(_pids(session.dealer, "sleepers")) >= n,
                          daemon, 300, every=0.5)
                    result: Result = {"n": n, "all_running_after_s":
                                      round(time.monotonic() - began, 2),
                                      "loadavg_1m": os.getloadavg()[0]}
                    procs = {"flapping": session.plugin(FLAPPING_CLASS),
                             "statsd": session.plugin(STATSD_CLASS)}
                    for name, script in (FLOORS.items() if floor else ()):
                        floors.append(subprocess.Popen(
                            [sys.executable, "-c", script, f"ipc://{wd / 'pub.sock'}",
                             str(sink.getsockname()[1])], start_new_session=True))
                        procs[name] = psutil.Process(floors[-1].pid)
                    _paced(session, "ticker", rate, SETTLE, 1, drain)
                    before = {k: _cpu_s(p) for k, p in procs.items()}
                    packets = 0
                    t0 = time.monotonic()
                    events = _paced(session, "ticker", rate, seconds, 1, drain)
                    elapsed = time.monotonic() - t0
                    for name, proc in procs.items():
                        result[f"{name}_cpu_pct"] = (_cpu_s(proc) - before[name]) / elapsed * 100
                        result[f"{name}_rss_mb"] = proc.memory_info().rss / 2**20
                    result["sum_cpu_pct"] = result["flapping_cpu_pct"] + result["statsd_cpu_pct"]
                    result["events_per_s"] = events / elapsed
                    result["udp_packets_per_s"] = packets / elapsed
                finally:
                    session.close()
    finally:
        for floor_proc in floors:
            _proc.kill_and_reap(floor_proc)
        sink.close()
    return result


# -- plugin-flapping -------------------------------------------------------------------------


def run_flapping(spec: DaemonSpec, *, samples: int = 8) -> Result:
    """Reap that trips flapping -> the watcher's ``stop`` event, ``samples`` times."""
    reactions: list[float] = []
    with workdir(spec.label) as wd:
        body = (_watcher("flappy", f"{SLEEP} 3600", 1)
                + _plugin("flapping", FLAPPING_CLASS, attempts=2, window=1, retry_in=0.5,
                          max_retry=-1))
        with launch(with_ini(spec, _config(spec, wd, body)), wd, []) as daemon:
            session = _Session(daemon, wd, "flappy")
            try:
                session.plugin(FLAPPING_CLASS)
                time.sleep(1.0)  # the plugin's subscription settles (no event says when)
                killed: set[int] = set()
                for _ in range(samples):
                    # The retry: a fresh process of the restarted watcher.
                    _wait("flappy running again", lambda: [
                        p for p in _pids(session.dealer, "flappy") if p not in killed],
                        daemon, 30)
                    reactions.append(_one_trip(session, daemon, killed))
            finally:
                session.close()
    ordered = sorted(reactions)
    return {"samples": len(reactions), **ctl.latency_stats("reaction", ordered),
            "reactions_ms":
            [round(1000 * r, 2) for r in reactions]}


def _one_trip(session: _Session, daemon: RunningDaemon, killed: set[int]) -> float:
    """Kill ``flappy``'s process until flapping stops it; seconds from the last reap to ``stop``.

    Each kill waits for the respawn: circus 0.19 only reaps and respawns on its
    periodic check (check_delay, 5 s by default).
    """
    session.events.pump()
    mark = len(session.events.got)
    deadline = time.monotonic() + 30
    mine: set[int] = set()
    while time.monotonic() < deadline:
        session.events.pump(0.02)
        new = session.events.got[mark:]
        stops = [at for at, event, _ in new if event == "stop"]
        if stops:
            reaps = [at for at, event, payload in new if event == "reap"
                     and payload.get("process_pid") in mine and at <= stops[0]]
            if not reaps:
                raise ScenarioError("the watcher stopped before its processes were reaped")
            return stops[0] - max(reaps)
        if not daemon.alive():
            raise ScenarioError(daemon.describe_death())
        for pid in _pids(session.dealer, "flappy"):
            if pid not in killed:
                killed.add(pid)
                mine.add(pid)
                os.kill(pid, signal.SIGKILL)
    detected = daemon.log_text().count("flapping detected")
    # circus 0.19's plugin casts `stop` right after a reap, which its circusd
    # publishes from its periodic check; the cast then finds that check still
    # running and is refused, and a cast's error reply is never read.
    raise ScenarioError(f"flapping did not stop the watcher within 30s of the first of "
                        f"{len(mine)} deaths, though the plugin logged 'flapping detected' "
                        f"{detected} time(s)")


# -- plugin-watchdog -------------------------------------------------------------------------

_HEARTBEAT = """\
import os, signal, socket, sys, time
port, where, every = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
pid = os.getpid()

def killed(*_):
    with open(f"{where}/killed.{pid}", "w") as out:
        out.write(repr(time.time()))
    os._exit(0)

signal.signal(signal.SIGTERM, killed)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while not os.path.exists(f"{where}/quiet.{pid}"):
    last = time.time()
    sock.sendto(f"{pid};{last}".encode(), ("127.0.0.1", port))
    time.sleep(every)
with open(f"{where}/last.{pid}.tmp", "w") as out:
    out.write(repr(last))
os.rename(f"{where}/last.{pid}.tmp", f"{where}/last.{pid}")
while True:
    time.sleep(3600)
"""


def run_watchdog(spec: DaemonSpec) -> Result:
    """Overdue heartbeat -> SIGTERM, for WATCHDOG_PROCS processes silenced one by one."""
    with workdir(spec.label) as wd:
        (wd / "heartbeat.py").write_text(_HEARTBEAT)
        marks = wd / "marks"
        marks.mkdir()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        body = (_watcher("hb", f"{sys.executable} {wd / 'heartbeat.py'} {port} {marks} "
                         f"{HEARTBEAT_EVERY}", WATCHDOG_PROCS)
                + _plugin("watchdog", WATCHDOG_CLASS, loop_rate=WATCHDOG_LOOP_RATE,
                          max_count=WATCHDOG_MAX_COUNT, watchers_regex="^hb$",
                          ip="127.0.0.1", port=port))
        with launch(with_ini(spec, _config(spec, wd, body)), wd, []) as daemon:
            session = _Session(daemon, wd, "hb")
            try:
                pids = _wait(f"{WATCHDOG_PROCS} heartbeat processes", lambda: (
                    p if len(p := _pids(session.dealer, "hb")) == WATCHDOG_PROCS else None),
                    daemon, 60)
                session.plugin(WATCHDOG_CLASS)
                # Two checks with every process beating: the plugin knows them all.
                time.sleep(2 * WATCHDOG_LOOP_RATE + 0.5)
                if list(marks.glob("killed.*")):
                    raise ScenarioError("a process that kept beating was killed")
                # One silenced every loop_rate / procs: overdue moments cover a whole
                # check interval, so the reactions span its best and worst cases.
                for pid in pids:
                    (marks / f"quiet.{pid}").touch()
                    time.sleep(WATCHDOG_LOOP_RATE / WATCHDOG_PROCS)
                limit = WATCHDOG_LOOP_RATE * WATCHDOG_MAX_COUNT
                _wait("every silenced process killed", lambda: all(
                    (marks / f"killed.{pid}").exists() for pid in pids), daemon,
                    limit + 10 * WATCHDOG_LOOP_RATE)
                reactions = []
                for pid in pids:
                    last = float((marks / f"last.{pid}").read_text())
                    killed = float((marks / f"killed.{pid}").read_text())
                    reactions.append(killed - (last + limit))
            finally:
                session.close()
    ordered = sorted(reactions)
    return {"processes": len(reactions), "loop_rate_s": WATCHDOG_LOOP_RATE,
            "max_count": WATCHDOG_MAX_COUNT, **ctl.latency_stats("reaction", ordered),
            "reaction_min_ms": 1000 * ordered[0],
            "reactions_ms": [round(1000 * r, 1) for r in reactions]}


# -- plugin-statsd ---------------------------------------------------------------------------


def _counted(statsd: EtsyStatsd, watcher: str) -> float:
    prefix = f"circus.{APP}.watcher.{watcher}."
    return sum(v for k, v in statsd.counters().items() if k.startswith(prefix))


def run_statsd(spec: DaemonSpec, *, plugin_runner: Path | None = None) -> Result:
    """Events published during a 1000 events/s burst against the counts at a real statsd.

    With ``plugin_runner`` (a ``circus-plugin`` console script) the bench runs
    the statsd plugin itself with that runner against ``spec``'s daemon,
    instead of a ``[plugin:statsd]`` section: circus 0.19's plugin fed by our
    circusd.
    """
    with workdir(spec.label) as wd:
        statsd = EtsyStatsd(wd)
        options = {"host": "127.0.0.1", "port": statsd.port, "application_name": APP}
        body = _watcher("burst", f"{SLEEP} 3600", 1)
        if plugin_runner is None:
            body += _plugin("statsd", STATSD_CLASS, **options)
        runner: subprocess.Popen[bytes] | None = None
        try:
            with launch(with_ini(spec, _config(spec, wd, body)), wd, []) as daemon:
                session = _Session(daemon, wd, "burst")
                try:
                    if plugin_runner is None:
                        session.plugin(STATSD_CLASS)
                    else:
                        runner = _run_plugin(plugin_runner, wd, options)
                    return _burst(session, daemon, statsd)
                finally:
                    session.close()
        finally:
            statsd.close()
            if runner is not None:
                _proc.kill_and_reap(runner)


def _run_plugin(runner: Path, wd: Path, options: dict[str, object]) -> subprocess.Popen[bytes]:
    """``runner`` (a circus-plugin) running the statsd plugin against the daemon in ``wd``."""
    config = ":::".join(f"{k}:{v}" for k, v in options.items())
    with open(wd / "plugin.log", "wb") as out:
        return subprocess.Popen(
            [str(runner), "--endpoint", f"ipc://{wd / 'ctl.sock'}",
             "--pubsub", f"ipc://{wd / 'pub.sock'}", "--config", config, STATSD_CLASS],
            cwd=wd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)


# Our StatsdEmitter gathers the counters of a busy stream for max_delay (3 s by
# default) before sending them: a count that holds still for longer is final.
COUNTS_SETTLE = 3.5


def _quiet(session: _Session, daemon: RunningDaemon, statsd: EtsyStatsd) -> float:
    """Wait until no event arrives for 1 s and statsd's count holds still; that count."""
    deadline = time.monotonic() + 60
    while True:
        if not session.events.pump(1.0):
            first = _counted(statsd, "burst")
            time.sleep(COUNTS_SETTLE)
            if _counted(statsd, "burst") == first:
                return first
        if not daemon.alive():
            raise ScenarioError(daemon.describe_death())
        if time.monotonic() > deadline:
            raise ScenarioError("events or statsd counts still moving after 60s")


def _burst(session: _Session, daemon: RunningDaemon, statsd: EtsyStatsd) -> Result:
    # Warm-up: until one event is counted, the plugin's subscription may be settling.
    def counted_one() -> bool:
        for command in ("incr", "decr"):
            accepted = functools.partial(_try, session.dealer, command, {"name": "burst"})
            _wait(f"`{command}` accepted", accepted, daemon, 10)
        time.sleep(0.2)
        return _counted(statsd, "burst") > 0
    _wait("a first counter at statsd", counted_one, daemon, 60)
    base = _quiet(session, daemon, statsd)
    mark = len(session.events.got)
    t0 = time.monotonic()
    _paced(session, "burst", BURST_RATE, BURST_SECONDS, BURST_STEP)
    counted = _quiet(session, daemon, statsd) - base
    burst = session.events.got[mark:]
    published = len(burst)
    span = (burst[-1][0] - t0) if burst else 0.0
    return {"published": published, "counted": counted, "lost": published - counted,
            "events_per_s": published / span if span else 0.0,
            "statsd_packets_received": statsd.counters().get("statsd.packets_received", 0.0)}


__all__ = ["CPU", "FLAPPING", "SCENARIOS", "STATSD", "WATCHDOG", "for_plugins", "run_cpu",
           "run_flapping", "run_statsd", "run_watchdog"]
