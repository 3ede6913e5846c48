"""The web console benchmark: circushttpd in front of a circusd of N processes.

One daemon run (ours, ``statsd = True``, one watcher of N ``sleep``) serves
the three measures, with circushttpd on loopback (no login) in front of it:

* ``web-page``: the watcher page's load in headless chromium (selenium,
  the system chromedriver): from navigation to the process cards drawn
  (one page of them; the charts then fill at the next stats tick). Median
  of 5 after a first, cold load. Also, without a browser, the HTML (which
  asks circusd for the watcher's options) plus the first snapshot on a new
  event stream, which carries every pid.
* ``web-cpu``: circushttpd's CPU with ``sessions`` event streams open (each
  one what a browser tab holds), over ``seconds``. Each stream gets every
  snapshot and, once a second, the stats of all N processes.
* ``web-spawn``: from a process's spawn (the ``time`` circusd puts in the
  ``spawn`` event) to the first snapshot on a stream that lists its pid,
  for ``rounds`` successive ``incr``, with the sessions still open.

Results are reported, never asserted.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import threading
import time
from typing import Any

import psutil
import zmq
from _daemons import REPO, DaemonSpec, launch, with_ini
from scenarios import Result, ScenarioError, workdir
from stats_scenarios import WATCHER, stats_config

WEB_PAGE, WEB_CPU, WEB_SPAWN = "web-page", "web-cpu", "web-spawn"
WEB = (WEB_PAGE, WEB_CPU, WEB_SPAWN)
CIRCUSHTTPD = REPO / ".venv" / "bin" / "circushttpd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Stream:
    """One SSE client on a thread: counts bytes, notes when each pid first shows."""

    def __init__(self, port: int, track: bool = False) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", "/api/events")
        self.response = self.conn.getresponse()
        self.track = track
        self.bytes = 0
        self.first_seen: dict[int, float] = {}
        self.first_full: float | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = ""
        with contextlib.suppress(Exception):
            while line := self.response.readline():
                self.bytes += len(line)
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: ") and event == "node" and self.track:
                    now = time.time()
                    snap = json.loads(line[6:])
                    pids = snap["watchers"].get(WATCHER, {}).get("pids", [])
                    for pid in pids:
                        self.first_seen.setdefault(pid, now)
                    if self.first_full is None and pids:
                        self.first_full = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()
        self.thread.join(5)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


def _page_load(port: int, n: int) -> float:
    """Seconds for the watcher page's HTML plus a new stream's first full snapshot."""
    began = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/node/n0/watcher/{WATCHER}")
    reply = conn.getresponse()
    reply.read()
    conn.close()
    if reply.status != 200:
        raise ScenarioError(f"watcher page answered {reply.status}")
    stream = _Stream(port, track=True)
    try:
        _wait(lambda: stream.first_full is not None, 30, "the first snapshot")
        assert stream.first_full is not None
        if len(stream.first_seen) < n:
            raise ScenarioError(f"first snapshot listed {len(stream.first_seen)}/{n} pids")
        return stream.first_full - began
    finally:
        stream.close()


def _browser_page_loads(port: int, profile: str, times: int = 5) -> list[float]:
    """Seconds from navigation to the watcher page's process cards, in chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    cards = "return document.querySelectorAll('#procs .proc').length"
    try:
        loads = []
        for _ in range(times + 1):  # the first is the cold one
            began = time.monotonic()
            driver.get(f"http://127.0.0.1:{port}/node/n0/watcher/{WATCHER}")
            _wait(lambda: driver.execute_script(cards) > 0, 30, "the process cards")
            loads.append(time.monotonic() - began)
        return loads[1:]
    finally:
        driver.quit()


def run_web(spec: DaemonSpec, n: int, *, sessions: int = 20, seconds: float = 10.0,
            rounds: int = 20, start_timeout: float = 180.0) -> Result:
    """Run ``n`` sleepers behind circushttpd; measure page load, CPU and spawn-to-row."""
    result: Result = {"n": n, "sessions": sessions, "loadavg_1m": os.getloadavg()[0]}
    from circus.client import CircusClient  # the bench venv has circus-ctl installed

    with workdir(spec.label) as wd:
        ini = stats_config(spec, wd, n)
        with launch(with_ini(spec, ini), wd, []) as daemon:
            ctl = f"ipc://{wd / 'ctl.sock'}"
            client = CircusClient(ctl, timeout=30)

            def all_up() -> bool:
                if not daemon.alive():
                    raise ScenarioError(daemon.describe_death())
                with contextlib.suppress(Exception):
                    return len(client.call("list", name=WATCHER).get("pids", [])) >= n
                return False
            _wait(all_up, start_timeout, f"{n} sleepers")
            port = _free_port()
            log = open(wd / "circushttpd.out", "wb")  # noqa: SIM115 - closed below
            web = subprocess.Popen([str(CIRCUSHTTPD), "--port", str(port), "--endpoint", ctl],
                                   stdout=log, stderr=subprocess.STDOUT)
            streams: list[_Stream] = []
            context: zmq.Context[Any] = zmq.Context()
            sub = context.socket(zmq.SUB)
            try:
                def listening() -> bool:
                    if web.poll() is not None:
                        raise ScenarioError(f"circushttpd exited {web.returncode}")
                    with socket.socket() as sock:
                        return sock.connect_ex(("127.0.0.1", port)) == 0
                _wait(listening, 30, "circushttpd")
                _page_load(port, n)  # warm: first connection to circusd, template compile
                loads = [_page_load(port, n) for _ in range(5)]
                result["page_http_ms"] = statistics.median(loads) * 1000
                browser = _browser_page_loads(port, str(wd / "chromium-profile"))
                result["page_ms"] = statistics.median(browser) * 1000
                result["page_max_ms"] = max(browser) * 1000

                streams = [_Stream(port, track=i == 0) for i in range(sessions)]
                proc = psutil.Process(web.pid)
                time.sleep(3.0)  # settle: every stream has had its first snapshot
                cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
                bytes0 = sum(s.bytes for s in streams)
                time.sleep(seconds)
                elapsed = time.monotonic() - t0
                result["cpu_pct"] = (sum(proc.cpu_times()[:2]) - cpu0) / elapsed * 100
                result["stream_kib_per_s"] = (sum(s.bytes for s in streams) - bytes0) / \
                    elapsed / sessions / 1024
                result["rss_mb"] = proc.memory_info().rss / 2**20

                sub.setsockopt(zmq.LINGER, 0)
                sub.setsockopt(zmq.SUBSCRIBE, f"watcher.{WATCHER}.spawn".encode())
                sub.connect(f"ipc://{wd / 'pub.sock'}")
                time.sleep(0.5)  # the SUB joins before the first incr
                tracker = streams[0]
                latencies = []
                for _ in range(rounds):
                    client.call("incr", name=WATCHER)
                    if not sub.poll(10_000):
                        raise ScenarioError("no spawn event after incr")
                    payload = json.loads(sub.recv_multipart()[1])
                    pid, spawned = int(payload["process_pid"]), float(payload["time"])
                    _wait(lambda pid=pid: pid in tracker.first_seen, 10, f"pid {pid} on a stream")
                    latencies.append(tracker.first_seen[pid] - spawned)
                    time.sleep(0.3)  # separate rounds, as clicks are
                latencies.sort()
                result["spawn_p50_ms"] = statistics.median(latencies) * 1000
                result["spawn_max_ms"] = latencies[-1] * 1000
            finally:
                for stream in streams:
                    stream.close()
                sub.close()
                context.term()
                web.terminate()
                try:
                    web.wait(20)
                except subprocess.TimeoutExpired:
                    web.kill()
                    web.wait()
                log.close()
                client.close()
    return result


