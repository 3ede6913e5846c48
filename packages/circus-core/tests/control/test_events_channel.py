"""Events on the PUB socket: two frames, upstream's topics and keys; never blocking."""

from __future__ import annotations

import json
import time

import zmq
import zmq.asyncio
from circus.watcher import Watcher
from conftest import python_cmd

from ._client import Client

SLEEPER = python_cmd("import time\nwhile True: time.sleep(0.2)")


class Subscriber:
    def __init__(self, endpoint: str, topic: bytes = b"watcher.") -> None:
        self.context = zmq.asyncio.Context()
        self.sock = self.context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.sock.connect(endpoint)

    async def until(self, topic: bytes, timeout: float = 10.0) -> list[list[bytes]]:
        """Every message received up to and including one with ``topic``."""
        seen: list[list[bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {topic!r} event; saw {[m[0] for m in seen]}"
            if await self.sock.poll(int(remaining * 1000)):
                frames = await self.sock.recv_multipart()
                seen.append(frames)
                if frames[0] == topic:
                    return seen

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.term()


async def _connected(sub: Subscriber, harness) -> None:
    # A SUB only sees messages sent after its subscription reached the PUB:
    # publish probes until one arrives.
    deadline = time.monotonic() + 5
    while not await sub.sock.poll(20):
        assert time.monotonic() < deadline, "subscriber never connected"
        harness.arbiter.events.publish("probe", "ping", {})
    await sub.sock.recv_multipart()


async def test_events_arrive_as_two_frames_with_upstream_payloads(make_arbiter):
    harness = await make_arbiter(Watcher("My Sleeper", SLEEPER, graceful_timeout=2,
                                         autostart=False), channels=True)
    sub = Subscriber(harness.arbiter.pubsub_endpoint)
    try:
        await _connected(sub, harness)
        watcher = harness.watcher("my sleeper")
        await watcher.start()
        [pid] = watcher.pids
        started = await sub.until(b"watcher.my_sleeper.start")
        await watcher.stop()
        stopped = await sub.until(b"watcher.my_sleeper.stop")
    finally:
        sub.close()
    messages = {frames[0]: frames for frames in started + stopped}
    assert all(len(frames) == 2 for frames in started + stopped)
    spawn = json.loads(messages[b"watcher.my_sleeper.spawn"][1])
    assert spawn["process_pid"] == pid and isinstance(spawn["time"], float)
    reap = json.loads(messages[b"watcher.my_sleeper.reap"][1])
    # Upstream's keys, plus our documented "commanded" (this stop caused the death).
    assert set(reap) == {"process_pid", "time", "exit_code", "commanded"}
    assert reap["process_pid"] == pid and reap["commanded"] is True
    kill = json.loads(messages[b"watcher.my_sleeper.kill"][1])
    assert set(kill) == {"process_pid", "time"}
    assert set(json.loads(messages[b"watcher.my_sleeper.stop"][1])) == {"time"}


async def _flood_while_calling(harness, count: int) -> list[float]:
    publisher = harness.arbiter.channels.publisher
    latencies = []
    async with Client(harness.arbiter.endpoint) as client:
        for start in range(0, count, 5000):
            began = time.perf_counter()
            for index in range(start, start + 5000):
                harness.arbiter.events.publish("flood", "spawn", {"process_pid": index})
            # 5,000 events never block (a blocked send would never return); how
            # fast they go is the bench's business.
            assert time.perf_counter() - began < 10.0
            latency, reply = await client.timed_call("status")
            assert reply["status"] == "ok"
            latencies.append(latency)
    assert publisher.sent + publisher.dropped >= count
    return latencies


async def test_a_flood_with_no_subscriber_never_blocks(make_arbiter):
    harness = await make_arbiter(channels=True)
    latencies = await _flood_while_calling(harness, 50_000)
    assert max(latencies) < 5.0


async def test_a_subscriber_that_never_reads_never_blocks(make_arbiter):
    harness = await make_arbiter(channels=True)
    sub = Subscriber(harness.arbiter.pubsub_endpoint)
    try:
        await _connected(sub, harness)
        latencies = await _flood_while_calling(harness, 50_000)
    finally:
        sub.close()
    assert max(latencies) < 5.0


async def test_no_pubsub_endpoint_means_no_event_channel(make_arbiter):
    harness = await make_arbiter(channels=True, pubsub_endpoint=None)
    assert harness.arbiter.channels.publisher is None
    assert harness.arbiter.channels.controller is not None
