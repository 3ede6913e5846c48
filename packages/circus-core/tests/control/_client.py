"""A bare DEALER client speaking the control protocol, for tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import zmq
import zmq.asyncio


class Client:
    """One DEALER connected to a control endpoint (use as an async context manager)."""

    def __init__(self, endpoint: str) -> None:
        self.context = zmq.asyncio.Context()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
        self.sock.connect(endpoint)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.term()

    async def send(self, *frames: bytes) -> None:
        await self.sock.send_multipart(list(frames))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next reply, decoded; fails the test after ``timeout``."""
        frames = await asyncio.wait_for(self.sock.recv_multipart(), timeout)
        assert len(frames) == 1, frames
        reply: dict[str, Any] = json.loads(frames[0])
        return reply

    async def nothing(self, within: float = 0.3) -> bool:
        """True if no reply arrives within ``within`` seconds."""
        return not await self.sock.poll(int(within * 1000))

    async def call(self, command: str, timeout: float = 5.0, **props: Any) -> dict[str, Any]:
        """Send ``command`` with ``props`` and return its reply (ids checked)."""
        msg_id = uuid.uuid4().hex
        message = {"command": command, "properties": props, "id": msg_id}
        await self.send(json.dumps(message).encode())
        reply = await self.recv(timeout)
        assert reply["id"] == msg_id
        return reply

    async def timed_call(self, command: str, **props: Any) -> tuple[float, dict[str, Any]]:
        """(seconds, reply) of one call."""
        began = time.perf_counter()
        reply = await self.call(command, **props)
        return time.perf_counter() - began, reply
