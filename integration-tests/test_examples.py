"""The demo that `make run` starts: examples/circus.ini loads, runs and stops cleanly."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from _circus_run import wait_for
from _stats_feed import StatsFeed
from conftest import free_port
from prometheus_client.parser import text_string_to_metric_families

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_PORT = "port = 8080\n"


def _private_demo(tmp_path: Path) -> tuple[Path, int]:
    """A copy of examples/ whose web socket listens on a free port, not 8080.

    The copy also keeps the demo's log files out of the repository.
    """
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("logs", "__pycache__"))
    (copy / "logs").mkdir()
    demo = (copy / "circus.ini").read_text()
    assert demo.count(DEMO_PORT) == 1, "the demo's [socket:web] port moved"
    port = free_port()
    (copy / "circus.ini").write_text(demo.replace(DEMO_PORT, f"port = {port}\n"))
    return copy / "circus.ini", port


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie (flaky between two lives)
        return ""


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
    demo, port = _private_demo(tmp_path)
    metrics_port = free_port()
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
        # clock, web, worker, flaky and circusd-stats (statsd = True).
        while "arbiter running 5 watchers" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        # clock (1) + web (4) + worker (3) + circusd-stats (1) + flaky (1); flaky
        # may be between two lives.
        while len(_children(proc.pid)) < 9:
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
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` sends
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(ipc_dir, ignore_errors=True)
    text = out.read_text()
    assert "Traceback" not in text
    for watcher in ("clock", "web", "worker", "flaky", "circusd-stats"):
        assert f"watcher {watcher} stopped" in text
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
