"""A subscriber to a stats channel for tests: the last payload of every topic."""

from __future__ import annotations

import json
from typing import Any

import zmq
from _circus_run import wait_for

# The keys of a per-process stats payload (upstream's dstats info).
INFO_KEYS = {"pid", "cmdline", "username", "nice", "mem_info1", "mem_info2", "cpu", "mem",
             "ctime", "create_time", "age", "children"}


class StatsFeed:
    """A SUB on a stats endpoint keeping the last payload of every topic."""

    def __init__(self, endpoint: str) -> None:
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"stat.")
        self.sock.connect(endpoint)
        self.last: dict[str, Any] = {}

    def pump(self) -> dict[str, Any]:
        """Read what has arrived (waiting up to 0.2 s for the first message)."""
        if self.sock.poll(200):
            while True:
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                assert len(frames) == 2, frames
                self.last[frames[0].decode()] = json.loads(frames[1])
        return self.last

    def wait(self, topic: str, check: Any = None, timeout: float = 20.0) -> Any:
        """The payload of ``topic`` once it has arrived (and satisfies ``check``)."""
        def ready() -> Any:
            payload = self.pump().get(topic)
            if payload is None or (check is not None and not check(payload)):
                return None
            return payload
        return wait_for(ready, f"{topic} on the stats channel", timeout)

    def close(self) -> None:
        self.sock.close()
        self.context.term()
