"""reloadconfig and ``[plugin:NAME]``: gone → stopped, changed → restarted, new → started.

Upstream restarted every plugin on any reload and our earlier daemon only
logged "restart circusd"; here each plugin watcher follows its section.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from circus._daemon.from_config import build_arbiter
from circus._setup import plugins as _plugins
from circus.config import load_config

from .conftest import Ctl, fields

# The runner exits at once on a class it cannot import; the watchers exist
# either way, which is all a reload decides.
HEAD = "[circus]\nendpoint = ipc://{d}/ctl\npubsub_endpoint = ipc://{d}/pub\n\n"
BASE = ("[plugin:same]\nuse = nowhere.Same\n\n"
        "[plugin:changed]\nuse = nowhere.Changed\nwindow = 10\n\n"
        "[plugin:gone]\nuse = nowhere.Gone\n\n"
        "[plugin:off]\nuse = nowhere.Off\nactive = false\n")
NEW = ("[plugin:same]\nuse = nowhere.Same\n\n"
       "[plugin:changed]\nuse = nowhere.Changed\nwindow = 20\n\n"
       "[plugin:fresh]\nuse = nowhere.Fresh\n\n"
       "[plugin:off]\nuse = nowhere.Off\nactive = false\n")


@pytest.fixture
def plugins_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugins, "plugins_installed", lambda: True)


async def test_reloadconfig_follows_each_plugin_section(
        plugins_available: None, ipc_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "circus.ini"
    path.write_text(HEAD.format(d=ipc_dir) + BASE)
    arbiter = build_arbiter(load_config(path), loop=asyncio.get_running_loop(),
                            reap_orphans=True)
    starting = arbiter.start()  # on the loop's thread: an asyncio.Task
    assert isinstance(starting, asyncio.Task)
    await starting
    try:
        before = {w.name: w for w in arbiter.watchers}
        assert sorted(before) == ["plugin:changed", "plugin:gone", "plugin:same"]
        path.write_text(HEAD.format(d=ipc_dir) + NEW)
        reply: dict[str, Any] = await Ctl(arbiter)("reloadconfig", waiting=True)
        assert reply["status"] == "ok" and fields(reply) == {}, reply
        after = {w.name: w for w in arbiter.watchers}
        assert sorted(after) == ["plugin:changed", "plugin:fresh", "plugin:same"]
        assert after["plugin:same"] is before["plugin:same"]
        assert after["plugin:changed"] is not before["plugin:changed"]
        assert "window:20" in after["plugin:changed"].cmd
        assert before["plugin:gone"].status() == "stopped"
        assert after["plugin:fresh"].status() == "active"
    finally:
        stopping = arbiter.stop()  # a loop was given: a Task, never None
        assert stopping is not None
        await stopping
        arbiter.close()
