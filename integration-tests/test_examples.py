"""The demo that `make run` starts: examples/circus.ini loads, runs and stops cleanly."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from _circus_run import wait_for
from _stats_feed import StatsFeed
from conftest import free_port
from prometheus_client.parser import text_string_to_metric_families

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_PORT = "port = 8080\n"
STATSD_PORT = "port = 8125\n"
HTTPD_PORT = "httpd_port = 8090\n"
PLUGINS = {"plugin:flapping": "circus.plugins.flapping.Flapping",
           "plugin:statsd": "circus.plugins.statsd.StatsdEmitter"}


def _private_demo(tmp_path: Path, statsd_port: int) -> tuple[Path, int, int]:
    """A copy of examples/ whose web socket and console listen on free ports.

    Its statsd plugin sends to ``statsd_port`` instead of 8125. The copy also
    keeps the demo's log files out of the repository. Returns the copy's
    config, the web socket's port and the console's.
    """
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("logs", "__pycache__"))
    (copy / "logs").mkdir()
    demo = (copy / "circus.ini").read_text()
    assert demo.count(DEMO_PORT) == 1, "the demo's [socket:web] port moved"
    assert demo.count(STATSD_PORT) == 1, "the demo's [plugin:statsd] port moved"
    assert demo.count(HTTPD_PORT) == 1, "the demo's httpd_port moved"
    port, console = free_port(), free_port()
    demo = demo.replace(DEMO_PORT, f"port = {port}\n")
    demo = demo.replace(HTTPD_PORT, f"httpd_port = {console}\n")
    (copy / "circus.ini").write_text(demo.replace(STATSD_PORT, f"port = {statsd_port}\n"))
    return copy / "circus.ini", port, console


def _counters(sock: socket.socket) -> set[str]:
    """Names of the statsd counters that arrived on ``sock`` so far."""
    names: set[str] = set()
    while True:
        try:
            datagram = sock.recv(65536)
        except BlockingIOError:
            return names
        for line in datagram.decode().splitlines():
            name, _, value = line.partition(":")
            assert value.endswith("|c"), line
            names.add(name)


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie (flaky between two lives)
        return ""


def _console_state(port: int) -> dict[str, Any]:
    """The console's ``/api/state`` (empty until it answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=10) as reply:
            state: dict[str, Any] = json.loads(reply.read())
            return state
    except OSError:
        return {}


def _tail_shows(port: int, watcher: str, text: str) -> bool:
    """Whether the console's event stream, following ``watcher``, sends a line with ``text``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/api/events?tail=n0/{watcher}")
        response = conn.getresponse()
        if response.status != 200:
            return False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = response.readline().decode()
            if line.startswith("data: ") and '"lines"' in line and text in line:
                return True
        return False
    except OSError:
        return False
    finally:
        conn.close()


def _get(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        conn.close()


def _web_processes(port: int) -> float | None:
    """``circus_watcher_processes{watcher="web"}`` scraped from circusd-stats."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "circus_watcher_processes" and sample.labels == {"watcher": "web"}:
                return float(sample.value)
    return None


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def test_demo_config_runs_its_watchers_and_stops_cleanly(tmp_path: Path) -> None:
    circusd = os.path.join(os.path.dirname(sys.executable), "circusd")
    out = tmp_path / "circusd.out"
    # The demo binds upstream's default endpoints and port 8080; here it gets
    # private ipc endpoints from a main file that includes it (the main file's
    # keys win), and a copy of it whose socket uses a free port.
    ipc_dir = Path(tempfile.mkdtemp(prefix="circus-demo-", dir="/tmp"))
    config = tmp_path / "demo.ini"
    metrics_port = free_port()
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind(("127.0.0.1", 0))
    statsd.setblocking(False)
    demo, port, console = _private_demo(tmp_path, statsd.getsockname()[1])
    config.write_text(f"[circus]\nendpoint = ipc://{ipc_dir}/ctl\n"
                      f"pubsub_endpoint = ipc://{ipc_dir}/pub\n"
                      f"stats_endpoint = ipc://{ipc_dir}/stats\n"
                      f"prometheus = 127.0.0.1:{metrics_port}\n"
                      f"include = {demo}\n")
    with open(out, "wb") as handle:
        proc = subprocess.Popen([circusd, str(config)], stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        # Ten processes and a page on a busy machine: a generous deadline.
        deadline = time.monotonic() + 60
        # clock, web, worker, flaky, circusd-stats (statsd = True), circushttpd
        # (httpd = True) and the plugins.
        while "arbiter running 8 watchers" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        # clock (1) + web (4) + worker (3) + circusd-stats (1) + circushttpd (1)
        # + plugins (2) + flaky (1); flaky may be between two lives.
        while len(_children(proc.pid)) < 12:
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        # The page is served on circusd's socket by the web workers, each
        # answer naming the worker's pid.
        served: set[int] = set()
        while len(served) < 2:
            assert time.monotonic() < deadline, (served, out.read_text())
            page = _get(port)
            assert page.startswith("hello from worker "), page
            served.add(int(page.split()[3]))
        children = _children(proc.pid)
        web = {c.pid for c in children if "web.py" in _cmdline(c)}
        assert len(web) == 4 and served <= web, (served, web)
        # Live numbers for circus-top: the demo runs circusd-stats, which reports
        # the web workers on the stats channel and as Prometheus metrics.
        feed = StatsFeed(f"ipc://{ipc_dir}/stats")
        try:
            feed.wait("stat.web", lambda p: sorted(p["pid"]) == sorted(web))
        finally:
            feed.close()
        wait_for(lambda: _web_processes(metrics_port) == 4,
                 "4 web processes in the Prometheus metrics")
        # Each plugin is one process of circus-plugin running its class, and the
        # statsd one counts flaky's crashes (one every 3 to 8 s).
        plugins = {name: [c for c in children if _cmdline(c).endswith(" " + cls)]
                   for name, cls in PLUGINS.items()}
        assert all(len(found) == 1 for found in plugins.values()), plugins
        wanted = {"circus.demo.watcher.flaky.spawn", "circus.demo.watcher.flaky.reap"}
        seen: set[str] = set()

        def counted() -> bool:
            seen.update(_counters(statsd))
            return wanted <= seen

        wait_for(counted, "flaky's spawn and reap counters at the statsd port", timeout=30)
        # Neither plugin crashed meanwhile (the flapping one followed those crashes).
        assert all(found[0].is_running() for found in plugins.values()), plugins
        # The console on loopback, no login needed there; the workers' lines
        # reach it (publish_output) and circusctl tail has them too.
        wait_for(lambda: "worker" in _console_state(console).get("nodes", [{}])[0]
                 .get("watchers", {}), "the console to list the worker watcher")
        tail = subprocess.run([os.path.join(os.path.dirname(sys.executable), "circusctl"),
                               "--endpoint", f"ipc://{ipc_dir}/ctl", "tail", "worker", "-n",
                               "5"], capture_output=True, text=True, timeout=30, check=True)
        assert len(tail.stdout.splitlines()) == 5 and "worker " in tail.stdout, tail.stdout
        wait_for(lambda: _tail_shows(console, "worker", "worker "),
                 "a worker line in the console's tail")
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` sends
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(ipc_dir, ignore_errors=True)
        statsd.close()
    text = out.read_text()
    # flaky's own tracebacks (its simulated crashes, on its stderr) are the demo;
    # any other one is a bug.
    flaky = set(re.findall(r"flaky \(pid (\d+)\): up", text))
    assert flaky, text
    own = tuple(f"[{pid}] | " for pid in flaky)
    assert not [line for line in text.splitlines()
                if "Traceback" in line and not any(tag in line for tag in own)]
    for watcher in ("clock", "web", "worker", "flaky", "circusd-stats", *PLUGINS):
        assert f"watcher {watcher} stopped" in text
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
