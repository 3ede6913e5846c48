"""StatsdEmitter and FullStats against a real circusd, counters read off a UDP socket."""

from __future__ import annotations

import time
from pathlib import Path

from _etsy_statsd import EtsyStatsd
from _peers import PYTHON, Circusd, Plugin, UdpListener, script, wait_for
from circus.plugins.statsd import DEFAULT_MAX_DELAY


def _setup(tmp_path: Path, peers, numprocesses: int = 1) -> tuple[Circusd, UdpListener]:
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = Circusd(tmp_path, f"""
        [watcher:sleeper]
        cmd = {PYTHON} {sleeper}
        numprocesses = {numprocesses}
    """).start()
    peers["daemons"].append(daemon)
    listener = UdpListener()
    peers["closers"].append(listener.close)
    return daemon, listener


def test_one_counter_per_event(tmp_path: Path, peers) -> None:
    daemon, statsd = _setup(tmp_path, peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.StatsdEmitter",
                    f"host:127.0.0.1:::port:{statsd.port}:::application_name:demo")
    peers["plugins"].append(plugin)
    plugin.started()
    wait_for(lambda: daemon.call("incr", name="sleeper")["status"] == "ok"
             and "circus.demo.watcher.sleeper.spawn:1|c" in statsd.drain(), "a spawn counter")
    daemon.call("decr", name="sleeper", waiting=True)
    wait_for(lambda: {"circus.demo.watcher.sleeper.kill:1|c",
                      "circus.demo.watcher.sleeper.reap:1|c"} <= set(statsd.drain()),
             "kill and reap counters")


def test_prefix_option(tmp_path: Path, peers) -> None:
    daemon, statsd = _setup(tmp_path, peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.StatsdEmitter",
                    f"port:{statsd.port}:::prefix:ops.circus")
    peers["plugins"].append(plugin)
    plugin.started()
    wait_for(lambda: daemon.call("incr", name="sleeper")["status"] == "ok"
             and "ops.circus.sleeper.spawn:1|c" in statsd.drain(), "a prefixed counter")


def test_sample_rate_below_one_does_not_over_count(tmp_path: Path, peers) -> None:
    """Upstream tagged every packet |@0.5 and sent them all: statsd counted twice the events."""
    daemon, statsd = _setup(tmp_path, peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.StatsdEmitter",
                    f"port:{statsd.port}:::sample_rate:0.5")
    peers["plugins"].append(plugin)
    plugin.started()
    for _ in range(4):
        assert daemon.call("incr", name="sleeper", nb=25, waiting=True)["status"] == "ok"
        assert daemon.call("decr", name="sleeper", nb=25, waiting=True)["status"] == "ok"
    events = 4 * 25 * 3  # spawn, kill and reap per process

    def settled() -> list[str]:
        before = len(statsd.drain())
        time.sleep(DEFAULT_MAX_DELAY + 0.3)  # counters may wait that long to share a packet
        lines = statsd.drain()
        return lines if len(lines) == before and lines else []

    lines = wait_for(settled, "the counters to settle")
    assert all(line.endswith("|c|@0.5") for line in lines), lines[:5]
    # What statsd reports: each sampled packet counts 1 / 0.5 = 2 events.
    reported = 2 * len(lines)
    assert 0.6 * events < reported < 1.4 * events, (reported, events)


def test_fullstats_gauges(tmp_path: Path, peers) -> None:
    daemon, statsd = _setup(tmp_path, peers, numprocesses=2)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.FullStats",
                    f"port:{statsd.port}:::loop_rate:0.3:::application_name:full")
    peers["plugins"].append(plugin)
    plugin.started()
    prefix = "circus.full.watcher._stats.sleeper."

    def gauges() -> dict[str, str]:
        found = {}
        for line in statsd.drain():
            name, _, value = line.partition(":")
            if name.startswith(prefix):
                found[name[len(prefix):]] = value
        return found if {"watchers_num", "mem_sum", "cpu_max"} <= set(found) else {}

    found = wait_for(gauges, "FullStats gauges")
    assert found["watchers_num"] == "2|g"
    assert set(found) >= {"spawn_count", "watchers_num", "cpu_max", "cpu_sum", "mem_pct_max",
                          "mem_pct_sum", "mem_max", "mem_sum"}
    assert float(found["mem_sum"].split("|")[0]) > 1_000_000  # bytes: two pythons' RSS


# -- Etsy's statsd daemon ------------------------------------------------------------------


def _etsy(tmp_path: Path, peers) -> EtsyStatsd:
    server = EtsyStatsd(tmp_path)
    peers["closers"].append(server.close)
    return server


def test_real_statsd_counts_every_event(tmp_path: Path, peers) -> None:
    daemon, _ = _setup(tmp_path, peers)
    statsd = _etsy(tmp_path, peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.StatsdEmitter",
                    f"host:127.0.0.1:::port:{statsd.port}:::application_name:real")
    peers["plugins"].append(plugin)
    plugin.started()
    spawns = "circus.real.watcher.sleeper.spawn"
    # Until one spawn is counted: the plugin's subscription may still be settling.
    wait_for(lambda: daemon.call("incr", name="sleeper", waiting=True)["status"] == "ok"
             and statsd.counters().get(spawns), "a first spawn")

    def steady() -> float:
        first = statsd.counters()[spawns]
        # Two equal readings further apart than a counter may wait to share a
        # packet (max_delay): nothing in flight. (0.2 s once read a count that
        # was still held, and the burst's total came out one too many.)
        time.sleep(DEFAULT_MAX_DELAY + 0.3)
        return first if statsd.counters()[spawns] == first else 0

    base = wait_for(steady, "the first counts to settle")
    # A burst: 3 x 100 processes started and stopped, 600 events within a second or two.
    for _ in range(3):
        assert daemon.call("incr", name="sleeper", nb=100, waiting=True)["status"] == "ok"
        assert daemon.call("decr", name="sleeper", nb=100, waiting=True)["status"] == "ok"
    expected = {"spawn": base + 300, "kill": 300, "reap": 300}

    def arrived() -> dict[str, float]:
        counters = statsd.counters()
        got = {event: counters.get(f"circus.real.watcher.sleeper.{event}", 0)
               for event in expected}
        return got if got == expected else {}

    last: dict[str, float] = {}

    def arrived_or_last() -> dict[str, float]:
        got = arrived()
        if not got:
            counters = statsd.counters()
            last.update({event: counters.get(f"circus.real.watcher.sleeper.{event}", 0)
                         for event in expected})
        return got

    try:
        wait_for(arrived_or_last, "the counters")
    except AssertionError:
        raise AssertionError(f"statsd has {last}, expected {expected}:\n"
                             + plugin.output()[-3000:]) from None


def test_real_statsd_sampled_counts_are_not_inflated(tmp_path: Path, peers) -> None:
    """statsd scales a sampled packet by 1 / rate: upstream's unsampled @0.5 counted double."""
    daemon, _ = _setup(tmp_path, peers)
    statsd = _etsy(tmp_path, peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.StatsdEmitter",
                    f"port:{statsd.port}:::sample_rate:0.5")
    peers["plugins"].append(plugin)
    plugin.started()
    for _ in range(2):
        assert daemon.call("incr", name="sleeper", nb=100, waiting=True)["status"] == "ok"
        assert daemon.call("decr", name="sleeper", nb=100, waiting=True)["status"] == "ok"

    def settled() -> float:
        first = statsd.counters().get("statsd.metrics_received", 0)
        # Counters may wait max_delay to share a packet: two equal readings further
        # apart than that mean nothing is in flight.
        time.sleep(DEFAULT_MAX_DELAY + 0.3)
        return first if first == statsd.counters().get("statsd.metrics_received", 0) else 0

    wait_for(settled, "the packets to settle")
    counted = sum(statsd.counters().get(f"circus.app.watcher.sleeper.{event}", 0)
                  for event in ("spawn", "kill", "reap"))
    assert 0.6 * 600 < counted < 1.4 * 600, counted  # upstream's would be about 1200
