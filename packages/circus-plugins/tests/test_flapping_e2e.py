"""Flapping against a real circusd: crash loops are stopped, commanded stops are not."""

from __future__ import annotations

import time
from pathlib import Path

from _peers import PYTHON, Circusd, Plugin, script, wait_for

FLAPPING = "circus.plugins.flapping.Flapping"


def _daemon(tmp_path: Path, peers: dict[str, list[object]], watchers: str) -> Circusd:
    daemon = Circusd(tmp_path, watchers).start()
    peers["daemons"].append(daemon)
    return daemon


def test_a_crash_loop_is_stopped_then_retried(tmp_path: Path, peers) -> None:
    crasher = script(tmp_path, "crash.py", "import sys, time; time.sleep(0.05); sys.exit(3)\n")
    daemon = _daemon(tmp_path, peers, f"""
        [watcher:crasher]
        cmd = {PYTHON} {crasher}
        numprocesses = 1
    """)
    plugin = Plugin(tmp_path, daemon, FLAPPING,
                    "attempts:2:::window:5:::retry_in:1:::max_retry:1:::name:plugin:flapping")
    peers["plugins"].append(plugin)
    plugin.started()
    plugin.wait_log("crasher: flapping detected")
    wait_for(lambda: daemon.status("crasher") == "stopped", "the plugin to stop crasher")
    # retry_in = 1: it is started again, flaps again, and with max_retry = 1 stays stopped.
    plugin.wait_log("starting it again after flapping")
    plugin.wait_log("max retry limit (1) is reached")
    wait_for(lambda: daemon.status("crasher") == "stopped", "crasher stopped for good")
    time.sleep(0)  # no fixed wait: the next lines check a settled state
    assert plugin.stop() == 0


def test_a_commanded_stop_is_not_flapping(tmp_path: Path, peers) -> None:
    """#965/#809: stopping a watcher of 4 processes gives 4 reaps; upstream restarted it."""
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = _daemon(tmp_path, peers, f"""
        [watcher:sleeper]
        cmd = {PYTHON} {sleeper}
        numprocesses = 4
    """)
    plugin = Plugin(tmp_path, daemon, FLAPPING, "retry_in:0.5")
    peers["plugins"].append(plugin)
    plugin.started()
    wait_for(lambda: len(daemon.pids("sleeper")) == 4, "4 sleepers")
    assert daemon.call("stop", name="sleeper", waiting=True)["status"] == "ok"
    assert daemon.status("sleeper") == "stopped"
    # A restart and a signal-free reload are commanded too.
    assert daemon.call("start", name="sleeper", waiting=True)["status"] == "ok"
    assert daemon.call("restart", name="sleeper", waiting=True)["status"] == "ok"
    assert daemon.call("stop", name="sleeper", waiting=True)["status"] == "ok"
    # Upstream would start it again retry_in (0.5 s) later; wait twice that, by polling.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert daemon.status("sleeper") == "stopped", plugin.output()
        time.sleep(0.05)
    assert "flapping detected" not in plugin.output()


def test_deaths_from_a_signal_command_are_not_flapping(tmp_path: Path, peers) -> None:
    """`circusctl signal w KILL` is commanded: circusd flags those reaps ``commanded``."""
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = _daemon(tmp_path, peers, f"""
        [watcher:sleeper]
        cmd = {PYTHON} {sleeper}
        numprocesses = 2
    """)
    plugin = Plugin(tmp_path, daemon, FLAPPING, "attempts:2:::window:30:::retry_in:0.5")
    peers["plugins"].append(plugin)
    plugin.started()
    for _ in range(3):
        before = set(wait_for(lambda: len(daemon.pids("sleeper")) == 2 and daemon.pids(
            "sleeper"), "2 sleepers"))
        assert daemon.call("signal", name="sleeper", signum="KILL")["status"] == "ok"
        wait_for(lambda before=before: not before & set(daemon.pids("sleeper")),
                 "the killed sleepers to be replaced")
    wait_for(lambda: len(daemon.pids("sleeper")) == 2, "2 sleepers again")
    assert daemon.status("sleeper") == "active"
    assert "flapping detected" not in plugin.output()


def test_the_window_is_not_shortened_by_check_delay(tmp_path: Path, peers) -> None:
    """Upstream subtracted check_delay (5 s) from the span: deaths 2 s apart flapped."""
    slow = script(tmp_path, "slow.py", "import sys, time; time.sleep(2); sys.exit(1)\n")
    daemon = _daemon(tmp_path, peers, f"""
        [watcher:slow]
        cmd = {PYTHON} {slow}
        backoff = false
    """)
    plugin = Plugin(tmp_path, daemon, FLAPPING, "attempts:2:::window:1")
    peers["plugins"].append(plugin)
    plugin.started()
    first = daemon.pids("slow")
    wait_for(lambda: daemon.pids("slow") and daemon.pids("slow") != first, "a respawn", 10)
    second = daemon.pids("slow")
    wait_for(lambda: daemon.pids("slow") and daemon.pids("slow") != second, "a respawn", 10)
    assert daemon.status("slow") == "active"
    assert "flapping detected" not in plugin.output()


def test_per_watcher_overrides(tmp_path: Path, peers) -> None:
    crasher = script(tmp_path, "crash.py", "import sys; sys.exit(3)\n")
    daemon = _daemon(tmp_path, peers, f"""
        [watcher:ignored]
        cmd = {PYTHON} {crasher}
        flapping.active = false

        [watcher:strict]
        cmd = {PYTHON} {crasher}
        flapping.max_retry = 0
    """)
    plugin = Plugin(tmp_path, daemon, FLAPPING, "attempts:2:::window:5:::max_retry:5")
    peers["plugins"].append(plugin)
    plugin.started()
    plugin.wait_log("strict: flapping detected and the max retry limit (0) is reached")
    wait_for(lambda: daemon.status("strict") == "stopped", "strict stopped")
    assert "ignored: flapping" not in plugin.output()
    assert daemon.status("ignored") == "active"
