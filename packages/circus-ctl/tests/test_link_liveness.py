"""A subscriber learns when its publisher goes away and comes back (heartbeats + monitor).

A real PUB binds a real tcp port; the SUB follows it with
``heartbeat_options`` and ``link_changes``. Closing the PUB drops the
connection; binding a new PUB on the same port brings it back, within a
reconnect interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator

import zmq
import zmq.asyncio
from circus.client import AsyncEventSubscriber, LinkChange, heartbeat_options, link_changes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_heartbeat_options_bound_every_wait() -> None:
    options = heartbeat_options(0.5)
    assert options == {zmq.HEARTBEAT_IVL: 500, zmq.HEARTBEAT_TIMEOUT: 1500,
                       zmq.HEARTBEAT_TTL: 1500, zmq.RECONNECT_IVL: 500,
                       zmq.CONNECT_TIMEOUT: 500}
    assert heartbeat_options(0.01, missed=2)[zmq.HEARTBEAT_TIMEOUT] == 200  # 100 ms floor


async def _next(changes: AsyncGenerator[LinkChange, None], timeout: float = 10.0
                ) -> LinkChange:
    return await asyncio.wait_for(anext(changes), timeout)


async def test_lost_and_found_again() -> None:
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    context = zmq.asyncio.Context()
    pub = context.socket(zmq.PUB)
    pub.bind(endpoint)
    sub = AsyncEventSubscriber(endpoint, ("watcher.",), options=heartbeat_options(0.2))
    changes = link_changes(sub.socket, 0.6)
    try:
        async with contextlib.aclosing(changes):
            assert await _next(changes) == LinkChange(True, "connected")
            pub.close(linger=0)
            lost = await _next(changes)
            assert not lost.up
            assert lost.reason.startswith("the connection dropped")
            assert "no heartbeat for 0.6s" in lost.reason
            pub = context.socket(zmq.PUB)
            pub.bind(endpoint)
            assert await _next(changes) == LinkChange(True, "connected")
            # Events flow again on the same subscriber.
            async def publish() -> None:
                while True:
                    await pub.send_multipart([b"watcher.x.start", b"{}"])
                    await asyncio.sleep(0.05)
            task = asyncio.ensure_future(publish())
            try:
                assert await asyncio.wait_for(sub.recv(), 10) == ("watcher.x.start", {})
            finally:
                task.cancel()
    finally:
        sub.close()
        pub.close(linger=0)
        context.term()


async def test_a_frozen_publisher_is_noticed_by_heartbeats() -> None:
    """A publisher that stops answering without closing (a cut link, a hung host) is dropped."""
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    code = ("import sys, time, zmq; s = zmq.Context().socket(zmq.PUB); s.bind(sys.argv[1]); "
            "[time.sleep(1) for _ in iter(int, 1)]")
    publisher = subprocess.Popen([sys.executable, "-c", code, endpoint])
    sub = AsyncEventSubscriber(endpoint, ("watcher.",), options=heartbeat_options(0.2))
    changes = link_changes(sub.socket, 0.6)
    try:
        async with contextlib.aclosing(changes):
            assert (await _next(changes)).up
            publisher.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            lost = await _next(changes)
            assert not lost.up
            assert "no heartbeat for 0.6s" in lost.reason
            assert time.monotonic() - frozen_at < 5
            publisher.send_signal(signal.SIGCONT)
            assert (await _next(changes)).up  # reconnects once it answers again
    finally:
        sub.close()
        publisher.kill()
        publisher.wait()
