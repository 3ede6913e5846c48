"""The stats channel end to end: circusd with ``statsd = True``, circus-top on top of it.

* our circusd runs our circusd-stats, which publishes upstream's topics and
  payloads for watchers, circusd itself and sockets (hits included);
* upstream's circus-top (PyPI circus 0.19) displays our stats channel;
* our circus-top displays our stats channel, and upstream's.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from _circus_peer import peer_env
from _circus_run import BIN, CircusRun, Daemon, wait_for
from _pty_screen import PtyScreen
from _stats_feed import INFO_KEYS, StatsFeed
from conftest import free_port


def _start_with_stats(run: CircusRun, kind: str, label: str,
                      extra_sections: str = "") -> tuple[Daemon, str]:
    stats = f"ipc://{run.sockdir}/{label}-stats.sock"
    config, endpoint, pubsub = run.config(
        label, run.watchers({"sleepers": 3}) + extra_sections,
        circus_extra=f"statsd = True\nstats_endpoint = {stats}\n")
    return run.start(kind, config, endpoint, pubsub), stats


def test_statsd_publishes_upstream_topics_for_watchers_circusd_and_sockets(
        circus_run: CircusRun) -> None:
    port = free_port()
    socket_section = f"[socket:web]\nhost = 127.0.0.1\nport = {port}\n"
    daemon, stats = _start_with_stats(circus_run, "ours", "stats", socket_section)
    feed = StatsFeed(stats)
    try:
        listed = daemon.call("list")["watchers"]
        assert "circusd-stats" in listed  # a watcher like any other, as upstream
        [stats_pid] = daemon.wait_pids("circusd-stats", 1)
        pids = daemon.wait_pids("sleepers", 3)
        for pid in pids:
            info = feed.wait(f"stat.sleepers.{pid}")
            # health: our circusd reports readiness (ready from the spawn: no check).
            assert set(info) == INFO_KEYS | {"subtopic", "name", "health"}, info
            assert info["health"] == "ready"
            assert info["pid"] == pid and info["subtopic"] == pid and info["name"] is None
        aggregate = feed.wait("stat.sleepers", lambda p: sorted(p["pid"]) == sorted(pids))
        assert set(aggregate) == {"pid", "cpu", "mem", "age"}
        circusd = feed.wait(f"stat.circus.{daemon.process.pid}")
        assert circusd["name"] == "circusd"
        assert feed.wait(f"stat.circus.{stats_pid}")["name"] == "circusd-stats"
        # circusd-stats is reported in the circus group only, never as its own watcher.
        assert not any(t.startswith("stat.circusd-stats") for t in feed.pump())

        fd = daemon.call("listsockets")["sockets"][0]["fd"]
        per_socket = feed.wait(f"stat.sockets.{fd}")
        assert per_socket["address"] == f"127.0.0.1:{port}" and per_socket["fd"] == fd
        # Socket hits: connections arriving on circusd's listening socket are counted.
        for _ in range(3):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        feed.wait("stat.sockets", lambda p: p["reads"] > 0
                  and p["addresses"] == [f"127.0.0.1:{port}"])

        # Events keep it current: a new process shows up, a removed one goes.
        daemon.call("incr", name="sleepers")
        new = set(daemon.wait_pids("sleepers", 4)) - set(pids)
        feed.wait(f"stat.sleepers.{new.pop()}")
        feed.wait("stat.sleepers", lambda p: len(p["pid"]) == 4)
    finally:
        feed.close()


def _top(run: CircusRun, argv: list[str], env: dict[str, str]) -> PtyScreen:
    return PtyScreen(argv, run.client_env(env))


def _shows_all(pids: list[int], *names: str) -> Any:
    def check(screen: str) -> bool:
        return all(name in screen for name in names) and all(str(p) in screen for p in pids)
    return check


def test_upstream_circus_top_displays_our_stats(upstream_run: CircusRun) -> None:
    daemon, stats = _start_with_stats(upstream_run, "ours", "ours")
    pids = daemon.wait_pids("sleepers", 3)
    assert upstream_run.peer is not None
    top = _top(upstream_run, [str(upstream_run.peer / "bin" / "circus-top"),
                              "--endpoint", stats], peer_env())
    try:
        screen = top.wait_for(_shows_all([*pids, daemon.process.pid], "sleepers", "circusd"),
                              "upstream circus-top to show our watchers and pids")
        assert "Traceback" not in screen
    finally:
        top.close()


def _our_top(run: CircusRun, stats: str) -> PtyScreen:
    return _top(run, [str(BIN / "circus-top"), "--endpoint", stats], dict(os.environ))


def test_our_circus_top_displays_live_stats_and_quits_on_q(circus_run: CircusRun) -> None:
    daemon, stats = _start_with_stats(circus_run, "ours", "ours")
    pids = daemon.wait_pids("sleepers", 3)
    top = _our_top(circus_run, stats)
    try:
        top.wait_for(_shows_all([*pids, daemon.process.pid], "sleepers", "circusd"),
                     "our circus-top to show the watchers and pids")
        top.send("q")
        wait_for(lambda: top.process.poll() is not None, "circus-top to quit on q", 10)
        assert top.process.returncode == 0
    finally:
        top.close()


def test_our_circus_top_reads_upstream_circusd_stats(upstream_run: CircusRun) -> None:
    daemon, stats = _start_with_stats(upstream_run, "upstream", "upstream")
    pids = daemon.wait_pids("sleepers", 3)
    top = _our_top(upstream_run, stats)
    try:
        top.wait_for(_shows_all(pids, "sleepers"),
                     "our circus-top to show upstream's watchers and pids", timeout=30)
    finally:
        top.close()


def test_circus_top_waits_for_a_silent_stats_channel(circus_run: CircusRun) -> None:
    stats = f"ipc://{circus_run.sockdir}/nobody-stats.sock"
    top = _our_top(circus_run, stats)
    started = time.monotonic()
    try:
        screen = top.wait_for(f"waiting for circusd-stats at {stats}", timeout=10)
        assert "is statsd = True?" in screen
        assert time.monotonic() - started < 10
    finally:
        top.close()
