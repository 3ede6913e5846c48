"""The server polls each circusd once, however many browsers (SSE streams) are open.

circushttpd reaches circusd through a counting proxy: a ROUTER the console
talks to, forwarding each request on one DEALER to the real circusd and each
reply back by its message id. The ``status`` requests it counts (one per
polling round) must not grow with the number of open streams.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import zmq

from .conftest import EventStream, wait_for


class CountingProxy:
    """Forwards control requests to ``target`` and counts them by command."""

    def __init__(self, endpoint: str, target: str) -> None:
        self.endpoint = endpoint
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.context: zmq.Context[Any] = zmq.Context()
        self.front = self.context.socket(zmq.ROUTER)
        self.front.setsockopt(zmq.LINGER, 0)
        self.front.bind(endpoint)
        self.back = self.context.socket(zmq.DEALER)
        self.back.setsockopt(zmq.LINGER, 0)
        self.back.connect(target)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        waiting: dict[str, bytes] = {}  # message id -> the console socket that asked
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        while not self.stopping.is_set():
            for sock, _ in poller.poll(50):
                if sock is self.front:
                    identity, body = self.front.recv_multipart()
                    request = json.loads(body)
                    with self.lock:
                        self.counts[str(request.get("command"))] += 1
                    waiting[str(request.get("id"))] = identity
                    self.back.send(body)
                else:
                    body = self.back.recv()
                    identity = waiting.pop(str(json.loads(body).get("id")), b"")
                    if identity:
                        self.front.send_multipart([identity, body])

    def count(self, command: str) -> int:
        with self.lock:
            return self.counts[command]

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.front.close()
        self.back.close()
        self.context.term()


def _polls_per_second(proxy: CountingProxy, seconds: float) -> float:
    """``status`` requests per second over a window of ``seconds`` (measured, not slept)."""
    start_count, start = proxy.count("status"), time.monotonic()
    wait_for(lambda: time.monotonic() - start >= seconds, seconds + 5, "the window")
    return (proxy.count("status") - start_count) / (time.monotonic() - start)


def test_one_poller_per_circusd_whatever_the_number_of_streams(daemons: Any,
                                                               webs: Any) -> None:
    circusd = daemons("")  # no watcher: no event wakes the poller early
    proxy = CountingProxy(f"ipc://{circusd.ipc}/proxy", circusd.endpoint)
    streams: list[EventStream] = []
    try:
        web = webs("--endpoint", proxy.endpoint)  # polls every 0.5 s (conftest)
        streams.append(EventStream(web.base))
        streams[0].first(lambda e, d: e == "node" and d["state"] == "up", what="the node up")
        one = _polls_per_second(proxy, 3.0)
        for _ in range(4):
            streams.append(EventStream(web.base))
        for stream in streams[1:]:
            stream.first(lambda e, d: e == "node" and d["state"] == "up", what="a snapshot")
        five = _polls_per_second(proxy, 3.0)
        # About two rounds a second either way; one poller per stream would make it ten.
        assert 0.5 < one <= 3.0, one
        assert 0.5 < five <= 3.0, five
        assert five < one * 1.5 + 0.5, (one, five)
    finally:
        for stream in streams:
            stream.close()
        proxy.close()
