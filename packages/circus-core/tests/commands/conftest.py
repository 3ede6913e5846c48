"""Helpers for driving commands through the dispatcher, as the control channel does."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from circus._daemon.from_config import build_arbiter
from circus.arbiter import Arbiter
from circus.commands import Dispatcher
from circus.config import load_config
from conftest import ArbiterHarness


class Ctl:
    """Sends commands to one arbiter through a :class:`Dispatcher`."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.dispatcher = Dispatcher(arbiter)

    async def __call__(self, command: str, **properties: Any) -> dict[str, Any]:
        """Send ``command``; await the reply when it comes later; return it decoded."""
        outcome = self.dispatcher.handle(json.dumps(
            {"command": command, "properties": properties, "id": "0123abcd"}).encode())
        if inspect.isawaitable(outcome):
            outcome = await outcome
        assert isinstance(outcome, bytes)
        reply: dict[str, Any] = json.loads(outcome)
        assert reply["id"] == "0123abcd"
        return reply


def fields(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply without the keys every reply has."""
    return {k: v for k, v in reply.items() if k not in ("status", "time", "id")}


@pytest.fixture
async def ctl(make_arbiter: Callable[..., Any]) -> AsyncIterator[Callable[[ArbiterHarness], Ctl]]:
    """Factory: ``ctl(harness)``; background operations are drained at teardown."""
    made: list[Ctl] = []

    def factory(harness: ArbiterHarness) -> Ctl:
        made.append(Ctl(harness.arbiter))
        return made[-1]

    yield factory
    for item in made:
        await item.dispatcher.drain()


@pytest.fixture
async def config_arbiter(
    make_arbiter: Callable[..., Any], tmp_path: Path
) -> AsyncIterator[Callable[[str], Any]]:
    """Factory: ``await config_arbiter(ini_text)`` → a started harness built from a file."""
    started: list[Arbiter] = []

    async def factory(text: str) -> ArbiterHarness:
        path = tmp_path / "circus.ini"
        path.write_text(text)
        arbiter = build_arbiter(load_config(path), loop=asyncio.get_running_loop(),
                                reap_orphans=True, endpoint=None, pubsub_endpoint=None)
        harness = ArbiterHarness(arbiter)
        started.append(arbiter)
        starting = arbiter.start()  # on the loop's thread: an asyncio.Task
        assert isinstance(starting, asyncio.Task)
        await starting
        return harness

    yield factory
    for arbiter in started:
        stopping = arbiter.stop()  # a loop was given: a Task, never None
        assert stopping is not None
        await stopping
        arbiter.close()
