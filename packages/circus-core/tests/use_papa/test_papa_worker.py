"""The papa thread: calls in order, errors handed over, a hung call blocks nobody."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest
from circus._papa.worker import Worker


async def test_calls_run_in_order_in_one_thread_and_errors_reach_the_caller() -> None:
    worker = Worker("test-papa")
    seen: list[tuple[int, str]] = []

    def note(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * 10

    results = await asyncio.gather(*(worker.submit(functools.partial(note, n))
                                     for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert [n for n, _ in seen] == [0, 1, 2, 3, 4]
    assert {name for _, name in seen} == {"test-papa"}

    def fail() -> None:
        raise RuntimeError("papa said no")

    with pytest.raises(RuntimeError, match="papa said no"):
        await worker.submit(fail)
    worker.close()


async def test_a_hung_call_times_out_and_its_thread_is_a_daemon() -> None:
    worker = Worker("test-papa-hung")
    release = threading.Event()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(worker.submit(release.wait), 0.05)
        hung = [t for t in threading.enumerate() if t.name == "test-papa-hung"]
        assert len(hung) == 1 and hung[0].daemon
    finally:
        release.set()
        worker.close()
