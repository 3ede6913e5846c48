"""circusd-stats started before circusd waits for it, then publishes."""

from __future__ import annotations

import signal

from .conftest import Harness, wait_for


def test_publishes_once_a_late_circusd_appears(harness: Harness) -> None:
    log = harness.tmp_path / "stats.log"
    harness.start_stats("--log-output", str(log), "--interval", "0.2")
    sub = harness.sub(b"stat.")
    wait_for(lambda: log.exists() and "cannot reach circusd" in log.read_text(), 10,
             "the unreachable warning")
    assert sub.sock.poll(300) == 0  # nothing to publish about yet
    harness.start_circusd("[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 2\n")
    pids = set(harness.call("list", name="sleeper")["pids"])
    wait_for(lambda: set(sub.until(lambda t, _: t == "stat.sleeper", 15)[1]["pid"]) == pids,
             15, "the sleepers published")
    assert "circusd at" in log.read_text() and "answers again" in log.read_text()


def test_follows_circusd_across_a_restart(harness: Harness) -> None:
    log = harness.tmp_path / "stats.log"
    harness.start_stats("--log-output", str(log), "--interval", "0.2")
    sub = harness.sub(b"stat.")
    first = harness.start_circusd("[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 1\n")
    old = set(harness.call("list", name="sleeper")["pids"])
    wait_for(lambda: set(sub.until(lambda t, _: t == "stat.sleeper", 15)[1]["pid"]) == old,
             15, "the first circusd's sleeper")
    harness.remember_children()
    assert harness.stop(first) == 0
    harness.daemons.remove(first)
    second = harness.start_circusd("[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 1\n")
    new = set(harness.call("list", name="sleeper")["pids"])
    assert new != old
    wait_for(lambda: set(sub.until(lambda t, _: t == "stat.sleeper", 15)[1]["pid"]) == new,
             15, "the second circusd's sleeper")
    # The circus group (circusd itself) may still be a tick behind the watchers:
    # wait for a message naming the second circusd, then check the first is gone.
    circus = sub.until(lambda t, p: t == "stat.circus" and second.pid in p["pid"], 15,
                       "the second circusd in stat.circus")[1]
    assert first.pid not in circus["pid"]


def test_a_frozen_circusd_is_reported_once_and_its_return_too(harness: Harness) -> None:
    """No event and no resync due, yet a circusd that stops answering is noticed (heartbeats)."""
    log = harness.tmp_path / "stats.log"
    harness.start_stats("--log-output", str(log), "--interval", "0.2")
    daemon = harness.start_circusd("[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 1\n")
    sub = harness.sub(b"stat.")
    wait_for(lambda: log.exists() and "tracking 1 watchers" in log.read_text(), 15,
             "the first sync")
    # A new pid published well before the 30 s resync: it came by an event, so
    # the event connection (the one with heartbeats) is up.
    harness.call("incr", name="sleeper")
    pids = set(harness.call("list", name="sleeper")["pids"])
    wait_for(lambda: set(sub.until(lambda t, _: t == "stat.sleeper", 15)[1]["pid"]) == pids,
             15, "the new sleeper published")
    daemon.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: "lost contact with circusd at" in log.read_text(), 10,
                 "the lost circusd reported")
    finally:
        daemon.send_signal(signal.SIGCONT)
    wait_for(lambda: "answers again" in log.read_text(), 15, "the return reported")
    text = log.read_text()
    assert text.count("lost contact with circusd") == 1
    assert text.count("answers again") == 1
    assert "no heartbeat for 1.5s" in text
