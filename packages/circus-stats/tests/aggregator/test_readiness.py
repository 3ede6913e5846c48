"""Readiness in the stats messages and the Prometheus metrics, against a scripted circusd.

The test plays circusd with a ROUTER (its control channel, answering from a
script) and a PUB (its event channel); the watcher's processes are real
``sleep`` processes, so circusd-stats samples them as it would circusd's.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from .conftest import Harness, free_port, wait_for
from .test_prometheus import scrape, value

Script = Callable[[dict[str, Any]], dict[str, Any]]


class ScriptedCircusd:
    """A control ROUTER answering in a thread from ``script``, and an event PUB."""

    def __init__(self, context: zmq.Context[Any], endpoint: str, pubsub: str,
                 script: Script) -> None:
        self.script = script
        self.router = context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(endpoint)
        self.pub = context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(pubsub)
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.router.poll(20):
                continue
            *route, body = self.router.recv_multipart()
            request = json.loads(body)
            self.requests.append(request)
            reply = {"status": "ok", "time": time.time(), "id": request.get("id"),
                     **self.script(request)}
            self.router.send_multipart([*route, json.dumps(reply).encode()])

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.pub.send_multipart([topic.encode(), json.dumps(payload).encode()])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.router.close()
        self.pub.close()


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen(["sleep", "600"]) for _ in range(3)]
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def our_circusd(web: list[int], plain: list[int]) -> Script:
    """circusd of this project: ``web`` has a check, ``plain`` none."""
    def script(request: dict[str, Any]) -> dict[str, Any]:
        command, props = request["command"], request.get("properties") or {}
        if command == "list" and props.get("name") == "web":
            return {"pids": web, "health": {str(web[0]): "starting", str(web[1]): "ready"}}
        if command == "list" and props.get("name") == "plain":
            return {"pids": plain}
        if command == "list":
            return {"watchers": ["plain", "web"]}
        if command == "status":
            health = {"web": {str(web[0]): "starting", str(web[1]): "ready"},
                      "plain": {str(pid): "ready" for pid in plain}}
            return {"statuses": {"plain": "active", "web": "active"},
                    **({"health": health, "backoff": {}} if props.get("verbose") else {})}
        if command == "dstats":
            return {"info": {"pid": 1}}
        return {"sockets": []} if command == "listsockets" else {}
    return script


def test_messages_and_metrics_follow_list_replies_and_events(
        harness: Harness, sleepers: list[subprocess.Popen[bytes]]) -> None:
    first, second, third = (proc.pid for proc in sleepers)
    fake = ScriptedCircusd(harness.context, harness.endpoint, harness.pubsub,
                           our_circusd([first, second], [third]))
    port = free_port()
    try:
        sub = harness.sub()
        harness.start_stats("--interval", "0.1", "--prometheus", f"127.0.0.1:{port}")

        def health_of(pid: int, watcher: str = "web") -> Callable[[], str | None]:
            def read() -> str | None:
                _, payload = sub.until(lambda t, _: t == f"stat.{watcher}.{pid}")
                return payload.get("health")
            return read

        assert wait_for(health_of(first), 15, "web's first pid") == "starting"
        assert health_of(second)() == "ready"
        assert health_of(third, "plain")() == "ready"
        _, payload = sub.until(lambda t, _: t == f"stat.web.{first}")
        assert {"pid", "cpu", "mem", "age", "subtopic", "name"} <= set(payload)
        assert payload["subtopic"] == first

        fake.publish("watcher.web.ready", {"process_pid": first, "time": time.time()})
        wait_for(lambda: health_of(first)() == "ready", 10, "the ready event applied")
        fake.publish("watcher.web.unhealthy", {"process_pid": second, "output": "refused",
                                               "failures": 3, "time": time.time()})
        wait_for(lambda: health_of(second)() == "unhealthy", 10, "the unhealthy event applied")

        metrics = wait_for(lambda: scrape(port), 10, "a scrape")
        assert value(metrics["circus_process_ready"], watcher="web", pid=str(first)) == 1
        assert value(metrics["circus_process_ready"], watcher="web", pid=str(second)) == 0
        assert value(metrics["circus_process_ready"], watcher="plain", pid=str(third)) == 1
        assert value(metrics["circus_watcher_ready_processes"], watcher="web") == 1
        assert value(metrics["circus_watcher_ready_processes"], watcher="plain") == 1
        assert value(metrics["circus_watcher_unhealthy"], watcher="web") == 1
        assert value(metrics["circus_watcher_unhealthy"], watcher="plain") == 0
        assert value(metrics["circus_watcher_ready_processes"], watcher="circus") is None
        assert metrics["circus_watcher_unhealthy"][0].name.endswith("_total")

        # A process spawned in a watcher with a check starts out starting.
        late = subprocess.Popen(["sleep", "600"])
        sleepers.append(late)
        fake.publish("watcher.web.spawn", {"process_pid": late.pid, "time": time.time()})
        assert wait_for(health_of(late.pid), 10, "the spawned pid") == "starting"
    finally:
        fake.close()


def test_upstream_circusd_gets_upstreams_messages_and_no_readiness_metrics(
        harness: Harness, sleepers: list[subprocess.Popen[bytes]]) -> None:
    pids = [proc.pid for proc in sleepers]

    def upstream(request: dict[str, Any]) -> dict[str, Any]:
        command, props = request["command"], request.get("properties") or {}
        if command == "list":
            return {"pids": pids} if props.get("name") else {"watchers": ["web"]}
        if command == "status":  # upstream ignores verbose
            return {"statuses": {"web": "active"}}
        if command == "dstats":
            return {"info": {"pid": 1}}
        return {"sockets": []} if command == "listsockets" else {}

    fake = ScriptedCircusd(harness.context, harness.endpoint, harness.pubsub, upstream)
    port = free_port()
    try:
        sub = harness.sub()
        harness.start_stats("--interval", "0.1", "--prometheus", f"127.0.0.1:{port}")
        _, payload = sub.until(lambda t, _: t == f"stat.web.{pids[0]}", 15)
        assert set(payload) == {"pid", "cmdline", "username", "nice", "mem_info1", "mem_info2",
                                "cpu", "mem", "ctime", "create_time", "age", "children",
                                "subtopic", "name"}
        metrics = wait_for(lambda: scrape(port), 10, "a scrape")
        assert value(metrics["circus_watcher_processes"], watcher="web") == 3
        assert metrics["circus_process_ready"] == []
        assert metrics["circus_watcher_ready_processes"] == []
        assert metrics["circus_watcher_unhealthy"] == []
    finally:
        fake.close()


def test_real_circusd_readiness_in_messages_and_metrics(harness: Harness) -> None:
    """circusd of this project with an ``exec:`` check the test passes by creating a file."""
    flag = harness.tmp_path / "ready"
    port = free_port()
    sub = harness.sub(b"stat.web.")
    harness.start_circusd(
        "[watcher:web]\ncmd = sleep 600\nnumprocesses = 2\n"
        f"check = exec:test -e {flag}\ncheck_interval = 0.2\ncheck_timeout = 1\n"
        "check_retries = 100\n\n"  # a ready window of 100 s: starting until the file exists
        + harness.stats_watcher("--interval", "0.2", "--prometheus", f"127.0.0.1:{port}"))
    pids = set(harness.call("list", name="web")["pids"])
    assert len(pids) == 2

    def states() -> dict[int, str]:
        seen: dict[int, str] = {}
        while set(seen) != pids:
            topic, payload = sub.until(lambda t, _: t.startswith("stat.web."))
            seen[int(topic.rsplit(".", 1)[1])] = payload.get("health", "")
        return seen

    wait_for(lambda: states() == dict.fromkeys(pids, "starting"), 15, "both starting")
    flag.touch()
    wait_for(lambda: states() == dict.fromkeys(pids, "ready"), 15, "both ready")

    def scraped_ready() -> dict[str, list[Any]] | None:
        metrics = scrape(port)
        return metrics if value(metrics["circus_watcher_ready_processes"],
                                watcher="web") == 2 else None

    metrics = wait_for(scraped_ready, 15, "the metrics to follow")
    assert {s.labels["pid"] for s in metrics["circus_process_ready"]
            if s.labels["watcher"] == "web" and s.value == 1} == {str(p) for p in pids}
    assert value(metrics["circus_watcher_unhealthy"], watcher="web") == 0
    # The check starts failing: each process turns unhealthy and is restarted.
    harness.call("set", name="web", options={"check_retries": 2})
    flag.unlink()

    def counted() -> dict[str, list[Any]] | None:
        metrics = scrape(port)
        found = value(metrics["circus_watcher_unhealthy"], watcher="web")
        return metrics if found is not None and found >= 1 else None

    metrics = wait_for(counted, 20, "an unhealthy process counted")
    assert value(metrics["circus_watcher_processes"], watcher="web") is not None
