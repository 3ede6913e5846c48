"""``[plugin:NAME]`` in circusd's own config: the plugin runs as a watcher and acts.

The other plugin tests start ``circus-plugin`` by hand; here circusd launches
it from its config, as users run plugins: flapping stops a crash loop (and
publishes the action on the event channel), a
``reloadconfig`` that drops the section stops the plugin, and a plugin whose
class cannot be imported is reported in one line and on the event channel
while circusd carries on.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from _circus_run import PYTHON, CircusRun, Daemon, alive, wait_for

CRASH = "import sys, time; time.sleep(0.05); sys.exit(3)"


def _crasher(run: CircusRun) -> str:
    # Started by the test once it listens to the event channel.
    return (f"[watcher:crasher]\ncmd = {shlex.quote(PYTHON)} -c {shlex.quote(CRASH)} "
            f"{run.token}\nautostart = false\n\n")


FLAPPING = ("[plugin:flapping]\nuse = circus.plugins.flapping.Flapping\n"
            "attempts = 2\nwindow = 5\nretry_in = 60\nmax_retry = 0\n\n")


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _watcher_status(daemon: Daemon, name: str) -> str:
    return str(daemon.call("status", name=name).get("status"))


def test_flapping_from_the_config_stops_a_crash_loop(circus_run: CircusRun) -> None:
    config, endpoint, pubsub = circus_run.config("ours", _crasher(circus_run) + FLAPPING)
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    [plugin_pid] = daemon.wait_pids("plugin:flapping", 1, timeout=30)
    argv = _cmdline(plugin_pid)
    assert argv[argv.index("--config") + 1] == (
        "attempts:2:::max_retry:0:::name:plugin:flapping:::retry_in:60:::window:5")
    assert "--check-delay" in argv
    listener = circus_run.ours_listen(pubsub, "listen", "watcher.crasher.")
    try:
        def heard(text: str) -> bool:
            return any(text in line for line in listener.lines)

        def ping() -> bool:
            daemon.call("publish_action", name="crasher", source="test", action="ping")
            return heard('"source": "test"')

        wait_for(ping, "the listener to be subscribed")
        assert daemon.call("start", name="crasher")["status"] == "ok"
        wait_for(lambda: _watcher_status(daemon, "crasher") == "stopped" and heard(
            '"source": "plugin:flapping", "action": "stop"'),
            "flapping to stop crasher, and say so", timeout=30)
        [line] = [line for line in listener.lines if "plugin:flapping" in line]
        assert line.startswith("watcher.crasher.action: ") and "2 deaths within 5s" in line
        assert listener.interrupt()[0] == 0
    finally:
        if listener.process.poll() is None:
            listener.close()
    # The plugin's own max_retry is not its watcher's (upstream #951).
    assert daemon.call("get", name="plugin:flapping", keys=["max_retry"])["options"] == {
        "max_retry": 5}

    # The section goes away: reloadconfig stops the plugin and drops its watcher.
    config.write_text(config.read_text().replace(FLAPPING, ""))
    assert daemon.call("reloadconfig", waiting=True)["status"] == "ok"
    wait_for(lambda: not alive(plugin_pid), "the plugin to stop")
    assert "plugin:flapping" not in daemon.call("list")["watchers"]


def test_a_plugin_that_cannot_load_is_reported_and_circusd_runs_on(
        circus_run: CircusRun) -> None:
    bad = "[plugin:bad]\nuse = nowhere_at_all.Plugin\n\n"
    config, endpoint, pubsub = circus_run.config("ours", bad)
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    listener = circus_run.ours_listen(pubsub, "--json", "listen", "watcher.plugin:bad.")
    try:
        # The watcher backs off and tries again: one of the tries is heard.
        wait_for(lambda: any('"action": "failed"' in line for line in listener.lines),
                 "the failure on the event channel", timeout=30)
    finally:
        listener.close()
    [event] = [json.loads(line) for line in listener.lines if '"failed"' in line][:1]
    assert event["topic"] == "watcher.plugin:bad.action"
    assert event["event"]["source"] == "plugin:bad"
    assert "cannot import module 'nowhere_at_all'" in event["event"]["reason"]
    wait_for(lambda: "cannot import module 'nowhere_at_all'" in daemon.log_text(),
             "the plugin's one-line error")
    assert "Traceback" not in daemon.log_text()
    assert daemon.running()
    assert daemon.call("list")["status"] == "ok"
