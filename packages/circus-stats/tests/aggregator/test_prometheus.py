"""The --prometheus endpoint, scraped over HTTP and parsed by prometheus_client."""

from __future__ import annotations

import socket
import sys
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .conftest import Harness, free_port, wait_for

CRASHER = f"{sys.executable} -c 'import sys, time; time.sleep(0.3); sys.exit(3)'"


def scrape(port: int) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list[Any], **labels: str) -> float | None:
    for sample in samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


def test_scrape_reports_processes_watchers_and_sockets(harness: Harness) -> None:
    port = free_port()
    harness.start_circusd(
        "[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 3\n\n"
        f"[watcher:crasher]\ncmd = {CRASHER}\nnumprocesses = 1\n\n"
        "[socket:web]\nhost = 127.0.0.1\nport = 0\n\n"
        + harness.stats_watcher("--prometheus", f"127.0.0.1:{port}", "--interval", "0.2"))
    web = harness.call("listsockets")["sockets"][0]
    sleepers = {str(pid) for pid in harness.call("list", name="sleeper")["pids"]}

    def crashed_and_hit() -> dict[str, list[Any]] | None:
        with socket.create_connection((web["host"], web["port"])):
            pass
        try:
            metrics = scrape(port)
        except OSError:
            return None
        restarts = value(metrics.get("circus_watcher_restarts", []), watcher="crasher")
        hits = value(metrics.get("circus_socket_hits", []), socket="web")
        return metrics if restarts and restarts >= 1 and hits and hits >= 1 else None

    metrics = wait_for(crashed_and_hit, 15, "a crash and a socket hit")
    assert value(metrics["circus_watcher_last_exit_code"], watcher="crasher") == 3
    assert value(metrics["circus_watcher_processes"], watcher="sleeper") == 3
    assert value(metrics["circus_watcher_restarts"], watcher="sleeper") == 0
    assert value(metrics["circus_socket_hits"], socket="web",
                 address=f"{web['host']}:{web['port']}") is not None
    per_process = ["circus_process_cpu_seconds", "circus_process_resident_memory_bytes",
                   "circus_process_open_fds", "circus_process_uptime_seconds"]
    for name in per_process:
        labelled = {s.labels["pid"] for s in metrics[name] if s.labels["watcher"] == "sleeper"}
        assert labelled == sleepers, name
    assert value(metrics["circus_process_open_fds"], watcher="sleeper") >= 3  # type: ignore[operator]
    assert value(metrics["circus_process_resident_memory_bytes"], watcher="sleeper") > 0  # type: ignore[operator]
    for name in ["circus_watcher_cpu_seconds", "circus_watcher_resident_memory_bytes",
                 "circus_watcher_open_fds", "circus_watcher_uptime_seconds"]:
        assert value(metrics[name], watcher="sleeper") is not None, name
    rss = sum(value(metrics["circus_process_resident_memory_bytes"], pid=p) or 0
              for p in sleepers)
    assert value(metrics["circus_watcher_resident_memory_bytes"], watcher="sleeper") == rss
    assert value(metrics["circus_watcher_processes"], watcher="circus") == 2
    assert metrics["circus_process_cpu_seconds"][0].name.endswith("_total")
