"""A raw ZMQ DEALER client for circus's control channel, and the pyzmq floor servers.

The control scenarios talk to every daemon with this one client, never with
either ``circus.client``: only the daemons are compared, and each call costs
the bench the same few microseconds whoever answers. A call is timed from
just before its ``send`` to just after its reply's ``recv``; building and
parsing the JSON happen outside that window.

The floor servers echo each ``[identity, payload]`` straight back, which is the
least any Python daemon on pyzmq can do per request: their round trip, measured
by the same client over the same transport, is the machine's floor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _proc
import zmq

Reply = dict[str, Any]


class CtlError(Exception):
    """The daemon answered with an error, answered nothing in time, or answered garbage."""


def request(command: str, properties: dict[str, Any] | None = None) -> tuple[bytes, str]:
    """One request frame as circusctl 0.19 builds it, and the id its reply must carry."""
    msg_id = uuid.uuid4().hex
    body = {"command": command, "properties": properties or {}, "id": msg_id}
    return json.dumps(body).encode(), msg_id


def check_reply(raw: bytes, msg_id: str, command: str) -> Reply:
    """The parsed reply; raises CtlError on an error reply or a foreign id."""
    try:
        reply = json.loads(raw)
    except ValueError as exc:
        raise CtlError(f"{command}: reply is not JSON: {raw[:80]!r}") from exc
    if not isinstance(reply, dict):
        raise CtlError(f"{command}: reply is not an object: {raw[:80]!r}")
    if reply.get("id") != msg_id:
        raise CtlError(f"{command}: reply id {reply.get('id')!r}, expected {msg_id!r}")
    if reply.get("status") == "error":
        raise CtlError(f"{command}: error reply: {reply.get('reason')}")
    return reply


class Dealer:
    """One control connection: a DEALER with its own identity, like circusctl's."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str,
                 timeout: float = 10.0,
                 secure: Callable[[zmq.Socket[bytes]], None] | None = None) -> None:
        """``secure`` sets socket options (CURVE keys) before the connect."""
        self.endpoint = endpoint
        self.timeout = timeout
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
        self.sock.setsockopt(zmq.LINGER, 0)
        if secure is not None:
            secure(self.sock)
        self.sock.connect(endpoint)
        # A poller registered once, then a non-blocking recv: on this machine a
        # blocking recv with RCVTIMEO measured some 10-20 us slower per call.
        self._poller = zmq.Poller()
        self._poller.register(self.sock, zmq.POLLIN)
        self._timeout_ms = int(timeout * 1000)

    def call(self, command: str, properties: dict[str, Any] | None = None) -> tuple[
            Reply, float]:
        """Send one request, wait for its reply; returns (reply, seconds send -> recv)."""
        frame, msg_id = request(command, properties)
        t0 = time.perf_counter()
        self.sock.send(frame)
        if not self._poller.poll(self._timeout_ms):
            raise CtlError(f"{command}: no reply from {self.endpoint} within "
                           f"{self.timeout:g}s")
        raw = self.sock.recv(zmq.NOBLOCK)
        elapsed = time.perf_counter() - t0
        return check_reply(raw, msg_id, command), elapsed

    def close(self) -> None:
        """Close the socket (linger 0: nothing is left queued)."""
        self.sock.close()


def wait_ready(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, timeout: float,
               alive: Any = None) -> float:
    """Poll with ``status`` until the endpoint answers; the seconds it took.

    ``alive`` is called between attempts and may raise (the daemon died).
    Each attempt uses a fresh socket so no stale request is left queued.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        dealer = Dealer(ctx, endpoint, timeout=0.5)
        try:
            dealer.call("status")
            return time.monotonic() - t0
        except CtlError as exc:
            if time.monotonic() > deadline:
                raise CtlError(f"{endpoint} never answered status within {timeout:.0f}s: "
                               f"{exc}") from None
        finally:
            dealer.close()
        if alive is not None:
            alive()


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


def latency_stats(prefix: str, seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max of some durations, in ms, under ``prefix_``."""
    ordered = sorted(seconds)
    return {f"{prefix}_p50_ms": 1000 * percentile(ordered, 50),
            f"{prefix}_p99_ms": 1000 * percentile(ordered, 99),
            f"{prefix}_max_ms": 1000 * ordered[-1], f"{prefix}_calls": len(ordered)}


def timed_calls(dealer: Dealer, command: str, properties: dict[str, Any] | None, *,
                calls: int, budget: float, warmup: int = 50,
                min_calls: int = 10) -> list[float]:
    """Round trips of ``calls`` sequential calls, or fewer if ``budget`` seconds run out."""
    for _ in range(warmup):
        dealer.call(command, properties)
    samples: list[float] = []
    deadline = time.monotonic() + budget
    while len(samples) < calls and (len(samples) < min_calls or time.monotonic() < deadline):
        samples.append(dealer.call(command, properties)[1])
    return samples


def concurrent_calls(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, *, clients: int,
                     seconds: float, warmup: float = 0.5, command: str = "status",
                     timeout: float = 10.0) -> dict[str, Any]:
    """``clients`` connections, each with one call in flight at all times (closed loop).

    One thread drives them all through a poller: as soon as a reply arrives
    (and checks out), that client sends its next request. Replies are counted
    over ``seconds`` after ``warmup``; the bench's own CPU time over the same
    window says whether the client, rather than the daemon, was the limit.
    """
    dealers = [Dealer(ctx, endpoint, timeout) for _ in range(clients)]
    poller = zmq.Poller()
    by_sock: dict[zmq.Socket[bytes], Dealer] = {}
    pending: dict[Dealer, tuple[str, float]] = {}
    for dealer in dealers:
        poller.register(dealer.sock, zmq.POLLIN)
        by_sock[dealer.sock] = dealer

    def send(dealer: Dealer) -> None:
        frame, msg_id = request(command)
        pending[dealer] = (msg_id, time.perf_counter())
        dealer.sock.send(frame)

    try:
        for dealer in dealers:
            send(dealer)
        t_start = time.perf_counter()
        t_count = t_start + warmup
        t_end = t_count + seconds
        cpu0: float | None = None
        done = 0
        samples: list[float] = []
        while True:
            now = time.perf_counter()
            if cpu0 is None and now >= t_count:
                cpu0 = time.process_time()
            if now >= t_end:
                break
            events = poller.poll(int(timeout * 1000))
            if not events:
                raise CtlError(f"{command}: {clients} clients got no reply within "
                               f"{timeout:.0f}s")
            for sock, _ in events:
                dealer = by_sock[sock]
                raw = dealer.sock.recv()
                t_recv = time.perf_counter()
                msg_id, t_sent = pending.pop(dealer)
                check_reply(raw, msg_id, command)
                if t_count <= t_recv < t_end:
                    done += 1
                    samples.append(t_recv - t_sent)
                send(dealer)
        cpu_used = time.process_time() - (cpu0 if cpu0 is not None else time.process_time())
    finally:
        for dealer in dealers:
            dealer.close()
    if not samples:
        raise CtlError(f"{command}: no call completed in {seconds:.1f}s")
    return {"calls_per_s": done / seconds, "calls": done, "clients": clients,
            "bench_cpu_pct": 100.0 * cpu_used / seconds,
            **latency_stats("concurrent", samples)}


# -- the floor: pyzmq ROUTER echo servers ------------------------------------------------

ECHO_BLOCKING = '''\
"""Floor: a ROUTER that echoes [identity, payload] back, in a plain blocking loop."""
import sys, zmq
sock = zmq.Context().socket(zmq.ROUTER)
sock.setsockopt(zmq.LINGER, 0)
sock.bind(sys.argv[1])
while True:
    sock.send_multipart(sock.recv_multipart())
'''

ECHO_ASYNCIO = '''\
"""Floor: a ROUTER that echoes [identity, payload] back, from an asyncio loop."""
import asyncio, sys, zmq, zmq.asyncio

async def main():
    sock = zmq.asyncio.Context().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(sys.argv[1])
    while True:
        await sock.send_multipart(await sock.recv_multipart())

asyncio.run(main())
'''


@contextmanager
def echo_server(script: str, workdir: Path, name: str) -> Iterator[str]:
    """Run one floor server in its own session; yields its ipc endpoint; kills it after."""
    path = workdir / f"{name}.py"
    path.write_text(script)
    endpoint = f"ipc://{workdir / (name + '.sock')}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with open(workdir / f"{name}.out", "wb") as out:
        popen = subprocess.Popen([sys.executable, str(path), endpoint], cwd=workdir, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield endpoint
    finally:
        _proc.kill_and_reap(popen)
