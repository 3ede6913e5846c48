"""The plugin runtime against a real circusd, through the real circus-plugin command."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from _peers import PYTHON, Circusd, Plugin, script, wait_for

# The "Writing plugins" example of the manual, character for character.
MANUAL_LOGGER = '''
from circus.plugins import CircusPlugin


class Logger(CircusPlugin):

    name = 'logger'

    def __init__(self, *args, **config):
        super(Logger, self).__init__(*args, **config)
        self.filename = config.get('filename')
        self.file = None

    def handle_init(self):
        self.file = open(self.filename, 'a+', buffering=1)

    def handle_stop(self):
        self.file.close()

    def handle_recv(self, data):
        watcher_name, action, msg = self.split_data(data)
        msg_dict = self.load_message(msg)
        self.file.write('%s %s::%r\\n' % (action, watcher_name, msg_dict))
'''

PROBE = '''
import json
from circus.plugins import CircusPlugin


class Probe(CircusPlugin):
    """Records what the runtime hands it; raises on 'spawn' events to test resilience."""

    name = 'probe'

    def handle_init(self):
        with open(self.config['out'], 'a') as out:
            out.write(json.dumps({'init': self.config, 'check_delay': self.check_delay,
                                  'list': self.call('list')}) + '\\n')

    def handle_recv(self, data):
        watcher, action, msg = self.split_data(data)
        with open(self.config['out'], 'a') as out:
            out.write(json.dumps({'event': [watcher, action]}) + '\\n')
        if action == 'spawn':
            raise RuntimeError('boom on purpose')

    def handle_stop(self):
        with open(self.config['out'], 'a') as out:
            out.write(json.dumps({'stopped': True}) + '\\n')
'''


def _module(tmp_path: Path, name: str, code: str) -> dict[str, str]:
    (tmp_path / "mods").mkdir(exist_ok=True)
    (tmp_path / "mods" / f"{name}.py").write_text(textwrap.dedent(code))
    return {"PYTHONPATH": str(tmp_path / "mods")}


def _records(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _sleeper(tmp_path: Path, peers) -> Circusd:
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = Circusd(tmp_path, f"""
        [watcher:sleeper]
        cmd = {PYTHON} {sleeper}
    """).start()
    peers["daemons"].append(daemon)
    return daemon


def test_the_manuals_logger_runs_unchanged(tmp_path: Path, peers) -> None:
    daemon = _sleeper(tmp_path, peers)
    events = tmp_path / "circus-events.log"
    plugin = Plugin(tmp_path, daemon, "myplugins.Logger", f"filename:{events}",
                    env=_module(tmp_path, "myplugins", MANUAL_LOGGER))
    peers["plugins"].append(plugin)
    plugin.started()
    wait_for(lambda: daemon.call("incr", name="sleeper")["status"] == "ok"
             and events.exists() and "spawn sleeper::" in events.read_text(),
             "the Logger to record a spawn")
    assert "{'process_pid': " in events.read_text()
    assert plugin.stop() == 0  # handle_stop closed the file without error
    assert "Stopping" in plugin.output()


def test_config_values_survive_the_command_line(tmp_path: Path, peers) -> None:
    """Spaces, colons and quotes reach the plugin as written (#140: upstream used shlex)."""
    daemon = _sleeper(tmp_path, peers)
    out = tmp_path / "probe.jsonl"
    config = (f"out:{out}:::greeting: hello   big world :::url:http://h:80/a b"
              ":::quoted:'it''s' \"x\":::name:plugin:probe")
    plugin = Plugin(tmp_path, daemon, "probemod.Probe", config, check_delay=0.7,
                    env=_module(tmp_path, "probemod", PROBE))
    peers["plugins"].append(plugin)
    plugin.started()
    init = wait_for(lambda: [r for r in _records(out) if "init" in r], "handle_init")[0]
    assert init["init"] == {"out": str(out), "greeting": "hello   big world",
                            "url": "http://h:80/a b", "quoted": "'it''s' \"x\"",
                            "name": "plugin:probe"}
    assert init["check_delay"] == 0.7  # --check-delay is honoured
    assert "sleeper" in init["list"]["watchers"]  # call() works from handle_init


def test_handle_recv_errors_are_one_line_and_the_plugin_keeps_going(tmp_path: Path,
                                                                     peers) -> None:
    daemon = _sleeper(tmp_path, peers)
    out = tmp_path / "probe.jsonl"
    plugin = Plugin(tmp_path, daemon, "probemod.Probe", f"out:{out}",
                    env=_module(tmp_path, "probemod", PROBE), log_level="info")
    peers["plugins"].append(plugin)
    plugin.started()
    wait_for(lambda: _records(out), "handle_init")

    def spawns_seen() -> int:
        return len([r for r in _records(out) if r.get("event") == ["sleeper", "spawn"]])

    # Until two spawns are seen: the subscription may still be settling at first.
    wait_for(lambda: daemon.call("incr", name="sleeper", waiting=True)["status"] == "ok"
             and spawns_seen() >= 2, "two spawns")
    errors = [line for line in plugin.output().splitlines() if "handle_recv failed" in line]
    assert len(errors) == spawns_seen(), plugin.output()
    assert "watcher.sleeper.spawn: RuntimeError: boom on purpose" in errors[0]
    assert "Traceback" not in plugin.output()
    # Still alive and receiving after the errors.
    assert daemon.call("decr", name="sleeper", waiting=True)["status"] == "ok"
    wait_for(lambda: any(r.get("event") == ["sleeper", "reap"] for r in _records(out)),
             "a reap after the errors")
    assert plugin.stop() == 0
    assert _records(out)[-1] == {"stopped": True}  # handle_stop ran on SIGTERM


def test_losing_circusd_is_reported_and_recovered(tmp_path: Path, peers) -> None:
    daemon = _sleeper(tmp_path, peers)
    out = tmp_path / "probe.jsonl"
    plugin = Plugin(tmp_path, daemon, "probemod.Probe", f"out:{out}", check_delay=0.2,
                    env=_module(tmp_path, "probemod", PROBE))
    peers["plugins"].append(plugin)
    plugin.started()
    wait_for(lambda: _records(out), "handle_init")
    daemon.stop()
    # "lost contact with" or, if no ping had answered yet, "cannot reach".
    plugin.wait_log(f"circusd at {daemon.endpoint}: ")
    plugin.wait_log("; retrying every 0.2s")
    daemon.start()
    plugin.wait_log("answers again")
    # Events flow again on the reconnected SUB socket.
    seen = len(_records(out))
    wait_for(lambda: daemon.call("incr", name="sleeper")["status"] == "ok"
             and any(r.get("event") == ["sleeper", "spawn"] for r in _records(out)[seen:]),
             "an event after the reconnection")
    assert plugin.output().count("retrying every") == 1  # reported once, not once per ping
    assert plugin.proc.poll() is None
