"""ResourceWatcher: per-process action against a real circusd, and each limit's reading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _peers import PYTHON, Circusd, Plugin, UdpListener, script, wait_for
from circus.plugins.resource_watcher import ResourceWatcher, Sample, read_sample

BURN = """
import sys, time
if sys.argv[1] == "1":
    while True:
        pass
while True:
    time.sleep(1)
"""


def test_only_the_offending_process_is_restarted(tmp_path: Path, peers) -> None:
    """Upstream restarted the whole watcher (child_pid/childpid mismatch, #756)."""
    burn = script(tmp_path, "burn.py", BURN)
    daemon = Circusd(tmp_path, f"""
        [watcher:mixed]
        cmd = {PYTHON} {burn} $(circus.wid)
        numprocesses = 3
    """).start()
    peers["daemons"].append(daemon)
    statsd = UdpListener()
    peers["closers"].append(statsd.close)
    wait_for(lambda: len(daemon.pids("mixed")) == 3, "three processes")
    infos = daemon.call("stats", name="mixed")["info"]
    burner = {int(pid) for pid, info in infos.items() if info["wid"] == 1}
    calm = set(daemon.pids("mixed")) - burner
    assert len(burner) == 1 and len(calm) == 2, infos
    plugin = Plugin(tmp_path, daemon, "circus.plugins.resource_watcher.ResourceWatcher",
                    f"watcher:mixed:::max_cpu:30:::max_mem:none:::health_threshold:none"
                    f":::loop_rate:0.3:::max_count:1:::port:{statsd.port}")
    peers["plugins"].append(plugin)
    plugin.wait_log("restarting that process")
    wait_for(lambda: not burner & set(daemon.pids("mixed")), "the burner to be replaced")
    assert calm <= set(daemon.pids("mixed"))  # the calm ones kept their pids
    assert f"pid {burner.pop()} broke over_cpu" in plugin.output()
    lines = wait_for(lambda: [line for line in statsd.drain() if "restarting" in line],
                     "the restarting counter")
    assert lines[0].startswith("circus.app.watcher._resource_watcher.mixed.restarting:1|c")


@pytest.fixture
def make() -> Iterator[object]:
    made: list[ResourceWatcher] = []

    def build(**config: str) -> ResourceWatcher:
        plugin = ResourceWatcher("ipc:///nonexistent/c", "ipc:///nonexistent/p", 5.0,
                                 watcher="w", **config)
        made.append(plugin)
        return plugin

    yield build
    for plugin in made:
        plugin.stop()


def test_defaults_match_upstream(make) -> None:
    plugin = make()
    assert (plugin.max_cpu, plugin.min_cpu, plugin.max_mem, plugin.min_mem,
            plugin.health_threshold, plugin.max_count, plugin.loop_rate) == (
        90.0, None, (90.0, False), None, 75.0, 3, 60.0)


def test_absolute_min_mem_is_a_size(make) -> None:
    """Upstream compared an absolute min_mem ('200M') with the memory percentage."""
    plugin = make(min_mem="200M", max_mem="none", max_cpu="none", health_threshold="none")
    assert plugin.min_mem == (200 * 1024 * 1024, True)
    small = Sample(cpu=1.0, mem_pct=50.0, mem_bytes=10 * 1024 * 1024)
    big = Sample(cpu=1.0, mem_pct=0.1, mem_bytes=300 * 1024 * 1024)
    assert plugin.breaches(small) == ["under_memory"]
    assert plugin.breaches(big) == []


def test_absolute_and_percent_max_mem(make) -> None:
    absolute = make(max_mem="250M")
    assert absolute.breaches(Sample(1.0, 1.0, 300 * 1024 * 1024)) == ["over_memory"]
    percent = make(max_mem="20")
    assert percent.breaches(Sample(1.0, 25.0, 1024.0)) == ["over_memory"]


def test_every_check_can_be_switched_off(make) -> None:
    plugin = make(max_cpu="none", max_mem="off", health_threshold="0")
    assert plugin.breaches(Sample(cpu=400.0, mem_pct=99.0, mem_bytes=1e12)) == []
    zero = make(min_cpu="0")  # 0 means "exactly 0 %", as documented
    assert "under_cpu" in zero.breaches(Sample(0.0, 1.0, 1.0))


def test_unreadable_figures_are_skipped_not_counted_as_100(make) -> None:
    """Upstream mapped N/A to 100 %, restarting watchers it could not inspect."""
    sample = read_sample({"cpu": "N/A", "mem": "N/A", "mem_info1": "N/A"})
    assert sample == Sample(None, None, None)
    plugin = make()
    assert plugin.breaches(sample) == []
    assert read_sample({"cpu": 12.5, "mem": 3.0, "mem_info1": "1.50K"}) == Sample(
        12.5, 3.0, 1536.0)


def test_service_is_the_deprecated_alias(make) -> None:
    plugin = ResourceWatcher("ipc:///n/c", "ipc:///n/p", 5.0, service="legacy")
    try:
        assert plugin.watcher == "legacy"
    finally:
        plugin.stop()
