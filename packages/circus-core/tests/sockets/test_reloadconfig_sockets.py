"""reloadconfig with [socket:NAME] sections: rebind what changed, touch only its users."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from circus._daemon.from_config import build_arbiter
from circus.arbiter import Arbiter
from circus.commands import Dispatcher
from circus.config import load_config
from conftest import PYTHON, ArbiterHarness

from ._workers import serve_script


async def ask_unix(path: Path, timeout: float = 10.0) -> int:
    """Connect to a unix socket and read the worker's pid until EOF."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
    try:
        return int(await asyncio.wait_for(reader.read(), timeout))
    finally:
        writer.close()
        await writer.wait_closed()


def _config(tmp: Path, sockets: dict[str, str], watchers: dict[str, str]) -> str:
    """An INI: unix sockets by name → file, serving watchers by name → socket (or "")."""
    server = tmp / "serve.py"
    server.write_text(serve_script())
    parts = []
    for name, file in sockets.items():
        parts.append(f"[socket:{name}]\npath = {tmp / file}\n")
    for name, sock in watchers.items():
        cmd = (f"{shlex.quote(PYTHON)} {server} $(circus.sockets.{sock})" if sock
               else "sleep 60")
        parts.append(f"[watcher:{name}]\ncmd = {cmd}\ngraceful_timeout = 2\n")
    return "\n".join(parts)


@pytest.fixture
async def from_file(tmp_path: Path) -> AsyncIterator[Callable[[str], Any]]:
    """Factory: a started arbiter built from an INI text, and its config path."""
    started: list[Arbiter] = []

    async def factory(text: str) -> tuple[ArbiterHarness, Path]:
        path = tmp_path / "circus.ini"
        path.write_text(text)
        arbiter = build_arbiter(load_config(path), loop=asyncio.get_running_loop(),
                                reap_orphans=True, endpoint=None, pubsub_endpoint=None)
        started.append(arbiter)
        starting = arbiter.start()  # on the loop's thread: an asyncio.Task
        assert isinstance(starting, asyncio.Task)
        await starting
        return ArbiterHarness(arbiter), path

    yield factory
    for arbiter in started:
        stopping = arbiter.stop()  # a loop was given: a Task, never None
        assert stopping is not None
        await stopping
        arbiter.close()


async def _reloadconfig(arbiter: Arbiter) -> dict[str, Any]:
    import json

    outcome = Dispatcher(arbiter).handle(json.dumps(
        {"command": "reloadconfig", "properties": {"waiting": True}, "id": "r"}).encode())
    assert not isinstance(outcome, (bytes, type(None)))
    reply: dict[str, Any] = json.loads(await outcome)  # type: ignore[arg-type]
    return reply


async def test_changed_socket_is_rebound_and_only_its_users_restart(
        from_file: Any, tmp_path: Path) -> None:
    harness, path = await from_file(_config(tmp_path, {"web": "a.sock"},
                                            {"web": "web", "calm": ""}))
    calm = harness.watcher("calm").pids
    old_web = await ask_unix(tmp_path / "a.sock")

    path.write_text(_config(tmp_path, {"web": "b.sock", "extra": "c.sock"},
                            {"web": "web", "calm": "", "extra": "extra"}))
    reply = await _reloadconfig(harness.arbiter)
    assert reply["status"] == "ok", reply

    new_web = await ask_unix(tmp_path / "b.sock")
    assert new_web != old_web and harness.watcher("web").pids == [new_web]
    assert not (tmp_path / "a.sock").exists()  # the old socket is closed and unlinked
    assert await ask_unix(tmp_path / "c.sock") == harness.watcher("extra").pids[0]
    assert harness.watcher("calm").pids == calm  # uses no socket: untouched
    assert sorted(harness.arbiter.sockets) == ["extra", "web"]


async def test_a_socket_still_used_cannot_be_removed(from_file: Any, tmp_path: Path) -> None:
    harness, path = await from_file(_config(tmp_path, {"web": "a.sock"}, {"web": "web"}))
    before = await ask_unix(tmp_path / "a.sock")
    path.write_text(_config(tmp_path, {}, {"web": "web"}))
    reply = await _reloadconfig(harness.arbiter)
    assert reply["status"] == "error" and reply["errno"] == 3
    assert "uses socket 'web'" in reply["reason"]
    assert await ask_unix(tmp_path / "a.sock") == before  # nothing changed


async def test_removing_a_socket_with_its_watcher_closes_it(
        from_file: Any, tmp_path: Path) -> None:
    harness, path = await from_file(_config(tmp_path, {"web": "a.sock"},
                                            {"web": "web", "calm": ""}))
    await ask_unix(tmp_path / "a.sock")
    path.write_text(_config(tmp_path, {}, {"calm": ""}))
    reply = await _reloadconfig(harness.arbiter)
    assert reply["status"] == "ok", reply
    assert harness.arbiter.sockets == {}
    assert [w.name for w in harness.arbiter.watchers] == ["calm"]
    with pytest.raises(OSError):
        await ask_unix(tmp_path / "a.sock", timeout=2)


async def test_on_demand_watchers_are_armed_after_a_reload(
        from_file: Any, tmp_path: Path) -> None:
    text = _config(tmp_path, {"web": "a.sock"}, {"web": "web"})
    harness, path = await from_file(text.replace("graceful_timeout = 2\n",
                                                 "graceful_timeout = 2\non_demand = true\n"))
    assert harness.watcher("web").pids == []
    # The socket moves, and a new on-demand watcher arrives with its own socket.
    new = _config(tmp_path, {"web": "b.sock", "late": "c.sock"}, {"web": "web", "late": "late"})
    path.write_text(new.replace("graceful_timeout = 2\n",
                                "graceful_timeout = 2\non_demand = true\n"))
    reply = await _reloadconfig(harness.arbiter)
    assert reply["status"] == "ok", reply
    assert harness.watcher("late").pids == [] and harness.watcher("web").pids == []
    assert await ask_unix(tmp_path / "b.sock") in harness.watcher("web").pids
    assert await ask_unix(tmp_path / "c.sock") in harness.watcher("late").pids
