"""WatchDog against a real circusd: silent processes are killed and respawned, others kept."""

from __future__ import annotations

import socket
from pathlib import Path

from _peers import PYTHON, Circusd, Plugin, free_port, script, wait_for
from circus.plugins.watchdog import WatchDog

HEARTBEAT = """
import os, socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
beats = int(sys.argv[2])  # -1: forever
while beats != 0:
    sock.sendto(f"{os.getpid()};{time.time()}".encode(), ("127.0.0.1", int(sys.argv[1])))
    beats -= 1
    time.sleep(0.1)
while True:
    time.sleep(1)
"""


def test_silent_processes_are_killed_and_beating_ones_kept(tmp_path: Path, peers) -> None:
    port = free_port(socket.SOCK_DGRAM)
    beat = script(tmp_path, "beat.py", HEARTBEAT)
    daemon = Circusd(tmp_path, f"""
        [watcher:beating]
        cmd = {PYTHON} {beat} {port} -1
        numprocesses = 2

        [watcher:silent]
        cmd = {PYTHON} {beat} {port} 3
        numprocesses = 3
    """).start()
    peers["daemons"].append(daemon)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.watchdog.WatchDog",
                    f"port:{port}:::loop_rate:0.3:::max_count:2:::name:plugin:watchdog")
    peers["plugins"].append(plugin)
    plugin.wait_log("listening for heartbeats")
    beating = sorted(daemon.pids("beating"))
    silent = set(daemon.pids("silent"))
    assert len(silent) == 3
    # All three silent ones go, in one pass or the next: never "dictionary changed size".
    wait_for(lambda: not silent & set(daemon.pids("silent"))
             and len(daemon.pids("silent")) == 3, "the silent processes to be replaced")
    assert plugin.output().count("sent no heartbeat") >= 3
    assert "RuntimeError" not in plugin.output() and "failed" not in plugin.output()
    # More passes: the replacements fall silent and go too; the beating ones stay.
    passes = plugin.output().count("sent no heartbeat")
    wait_for(lambda: plugin.output().count("sent no heartbeat") >= passes + 3,
             "the replacements to be killed too")
    assert sorted(daemon.pids("beating")) == beating


def test_plugins_and_circus_helpers_are_never_watched() -> None:
    """#945: the default regex .* matched plugin:watchdog itself, which sends no heartbeat."""
    dog = WatchDog("ipc:///nonexistent/c", "ipc:///nonexistent/p", 5.0,
                   name="plugin:watchdog")
    try:
        assert dog.watched("web") and dog.watched("worker-2")
        for name in ("plugin:watchdog", "plugin:flapping", "circusd-stats", "circushttpd"):
            assert not dog.watched(name), name
    finally:
        dog.stop()
    narrow = WatchDog("ipc:///nonexistent/c", "ipc:///nonexistent/p", 5.0,
                      watchers_regex='"^web.*$"')  # quoted, as upstream's example wrote it
    try:
        assert narrow.watched("web-1") and not narrow.watched("worker")
    finally:
        narrow.stop()
