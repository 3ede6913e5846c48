"""QueueStream: hand output to in-process consumers."""

from __future__ import annotations

import queue as _queue

from ._base import StreamMessage


class QueueStream:
    """Put every data dict on a :class:`queue.Queue` (``.queue``).

    Meant for embedding circus in a Python program that consumes the output
    itself; the dicts are put as received, without copying.
    """

    def __init__(self, queue: _queue.Queue[StreamMessage] | None = None) -> None:
        if queue is not None and not callable(getattr(queue, "put", None)):
            raise ValueError(f"queue: expected a queue.Queue, got {queue!r}")
        self.queue: _queue.Queue[StreamMessage] = _queue.Queue() if queue is None else queue

    def __call__(self, data: StreamMessage) -> None:
        """Put ``data`` on the queue."""
        self.queue.put(data)

    def reopen(self) -> None:
        """Nothing to reopen."""

    def close(self) -> None:
        """Nothing to close; items already queued stay available."""
