"""One daemon thread that runs papa's blocking calls in order, for the event loop.

Not a ThreadPoolExecutor: its threads are joined when the interpreter exits,
so a call stuck on a hung papa would keep circusd from exiting. This thread is
a daemon, and nothing ever waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


class Worker:
    """Runs submitted calls one after the other in a daemon thread."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``function``; the future (of the running loop) gets its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((function, future, loop))
        return future

    def close(self) -> None:
        """End the thread after the queued calls (without waiting for it)."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            function, future, loop = job
            try:
                result = function()
            except BaseException as exc:  # handed to the awaiting coroutine
                _hand_over(loop, future, None, exc)
            else:
                _hand_over(loop, future, result, None)


def _hand_over(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
               error: BaseException | None) -> None:
    def settle() -> None:
        if future.done():  # the caller gave up (timeout, cancellation)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        loop.call_soon_threadsafe(settle)
