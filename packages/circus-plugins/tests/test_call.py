"""call() and cast() against a real circusd: replies, error replies, and a frozen daemon."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from _peers import PYTHON, Circusd, script
from circus.client import ConnectionFailed
from circus.plugins import CircusPlugin, PluginCallTimeout


class Bare(CircusPlugin):
    """A plugin that only talks to circusd."""

    def handle_recv(self, data: list[bytes]) -> None:
        pass


def test_call_returns_replies_and_error_replies(tmp_path: Path, peers) -> None:
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = Circusd(tmp_path, f"[watcher:sleeper]\ncmd = {PYTHON} {sleeper}\n").start()
    peers["daemons"].append(daemon)
    plugin = Bare(daemon.endpoint, daemon.pubsub, 5.0)
    try:
        assert plugin.call("list")["watchers"] == ["sleeper"]
        error = plugin.call("list", name="nope")
        assert error["status"] == "error" and error["errno"] == 3  # returned, as upstream did
        plugin.cast("incr", name="sleeper")
        deadline = time.monotonic() + 10
        while len(daemon.pids("sleeper")) != 2:
            assert time.monotonic() < deadline, "the cast incr never arrived"
            time.sleep(0.02)
    finally:
        plugin.stop()


def test_call_times_out_with_a_clear_error_on_a_frozen_circusd(tmp_path: Path, peers) -> None:
    """Upstream's call() waited forever on a circusd that does not answer."""
    daemon = Circusd(tmp_path, "").start()
    peers["daemons"].append(daemon)
    plugin = Bare(daemon.endpoint, daemon.pubsub, 5.0, call_timeout="0.5")
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(PluginCallTimeout) as caught:
            plugin.call("list")
        assert time.monotonic() - started < 3
        assert str(caught.value) == (
            f"no reply from circusd at {daemon.endpoint} to 'list' within 0.5s (is circusd "
            "running and reachable? raise the plugin's call_timeout option if the command "
            "is slow)")
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
        plugin.stop()


def test_call_without_circusd_fails_at_once(tmp_path: Path) -> None:
    plugin = Bare(f"ipc://{tmp_path}/none.sock", f"ipc://{tmp_path}/pub.sock", 5.0)
    try:
        with pytest.raises(ConnectionFailed, match="does not exist"):
            plugin.call("list")
    finally:
        plugin.stop()
