"""Hooks for tests/test_hooks.py, imported by dotted path from the watcher's working_dir.

Every hook records the keyword arguments it was called with in ``CALLS``. What a
hook returns is set per hook name in ``RESULTS`` (default True); an exception
instance there is raised instead. Tests reset both before use.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

CALLS: list[dict[str, Any]] = []
RESULTS: dict[str, Any] = {}
# How long ``slow`` and ``slow_async`` take, in seconds.
SLOW_SECONDS = 1.0
# Set by ``slow`` once it has slept its full time (it runs on in its thread).
SLOW_DONE = threading.Event()
# Set by a test to end ``slow`` early, once it has seen what it waited for.
SLOW_RELEASE = threading.Event()


def reset() -> None:
    """Forget earlier calls and results."""
    CALLS.clear()
    RESULTS.clear()
    SLOW_DONE.clear()
    SLOW_RELEASE.clear()


def _answer(kwargs: dict[str, Any]) -> Any:
    CALLS.append(kwargs)
    result = RESULTS.get(kwargs["hook_name"], True)
    if isinstance(result, BaseException):
        raise result
    return result


def record(**kwargs: Any) -> Any:
    """A plain hook: record the call, answer from ``RESULTS``."""
    return _answer(kwargs)


async def record_async(**kwargs: Any) -> Any:
    """A coroutine hook: yields to the loop once, then answers like ``record``."""
    await asyncio.sleep(0)
    return _answer(kwargs)


def boom(**kwargs: Any) -> Any:
    """A hook that always raises."""
    CALLS.append(kwargs)
    raise RuntimeError("boom from the hook")


def slow(**kwargs: Any) -> bool:
    """A hook that blocks its thread for ``SLOW_SECONDS`` (or until ``SLOW_RELEASE``)."""
    CALLS.append(kwargs)
    SLOW_RELEASE.wait(SLOW_SECONDS)
    SLOW_DONE.set()
    return True


async def slow_async(**kwargs: Any) -> bool:
    """A coroutine hook that takes ``SLOW_SECONDS``."""
    CALLS.append(kwargs)
    await asyncio.sleep(SLOW_SECONDS)
    return True


def with_signature(watcher: Any, arbiter: Any, hook_name: str, pid: int, signum: int,
                   **kwargs: Any) -> bool:
    """The manual's before_signal signature: named arguments only."""
    CALLS.append({"watcher": watcher, "arbiter": arbiter, "hook_name": hook_name,
                  "pid": pid, "signum": signum, **kwargs})
    return True
