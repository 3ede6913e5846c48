"""Fan-out of live data to every open browser stream.

Each piece of news is encoded to one SSE frame once, however many browsers
listen; each stream has a bounded queue, so a stalled browser loses its
oldest frames (the next snapshot heals it) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

_QUEUE_FRAMES = 256


def sse_frame(event: str, data: Any) -> bytes:
    """One server-sent event: ``event:`` and one ``data:`` line of JSON."""
    body = json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {body}\n\n".encode()


class Listener:
    """One browser stream: its frames, and which watcher's output it follows."""

    def __init__(self, tail: tuple[str, str] | None) -> None:
        self.tail = tail
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(_QUEUE_FRAMES)

    def offer(self, frame: bytes) -> None:
        """Queue ``frame``, dropping the oldest one when the browser lags."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(frame)


class Hub:
    """Every open stream; news goes to all of them (output only to its followers)."""

    def __init__(self) -> None:
        self.listeners: set[Listener] = set()

    def join(self, tail: tuple[str, str] | None = None) -> Listener:
        """A new stream's listener (``tail`` is ``(node id, watcher)`` to follow)."""
        listener = Listener(tail)
        self.listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        """Forget a closed stream."""
        self.listeners.discard(listener)

    def publish(self, event: str, data: Any) -> None:
        """Send ``event`` to every stream."""
        if not self.listeners:
            return
        frame = sse_frame(event, data)
        for listener in self.listeners:
            listener.offer(frame)

    def publish_output(self, node: str, watcher: str, data: Any) -> None:
        """Send output lines of ``watcher`` on ``node`` to the streams that follow it."""
        frame: bytes | None = None
        for listener in self.listeners:
            if listener.tail == (node, watcher):
                frame = frame or sse_frame("output", data)
                listener.offer(frame)
