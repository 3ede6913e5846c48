"""What events cost a plugin: no wake-ups while idle, few while busy, only the events it uses."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from _peers import PYTHON, Circusd, Plugin, UdpListener, script, wait_for

# Flapping, recording every topic the runtime hands it.
RECORDER = '''
import json
from circus.plugins.flapping import Flapping


class Recorder(Flapping):
    def handle_recv(self, data):
        with open(self.config['out'], 'a') as out:
            out.write(json.dumps(data[0].decode()) + '\\n')
        super().handle_recv(data)
'''


def _daemon(tmp_path: Path, peers: dict[str, list[object]]) -> Circusd:
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = Circusd(tmp_path, f"""
        [watcher:sleeper]
        cmd = {PYTHON} {sleeper}
    """).start()
    peers["daemons"].append(daemon)
    return daemon


def _main_thread_wakeups(pid: int) -> int:
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    return sum(int(line.split()[1]) for line in status.splitlines()
               if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))


def test_an_idle_plugin_does_not_wake_up(tmp_path: Path, peers) -> None:
    """Liveness rides on libzmq heartbeats: no ping every check_delay on the plugin's loop."""
    daemon = _daemon(tmp_path, peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.flapping.Flapping", check_delay=0.1)
    peers["plugins"].append(plugin)
    plugin.started()
    plugin_pid = plugin.proc.pid
    # Settled: connected, start-up done (the first-contact timer has fired).
    wait_for(lambda: _settled(plugin_pid), "the plugin to settle", timeout=30)
    before = _main_thread_wakeups(plugin_pid)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # 20 check_delays
        assert plugin.proc.poll() is None
        time.sleep(0.1)
    woke = _main_thread_wakeups(plugin_pid) - before
    assert woke <= 3, f"the idle plugin's loop woke {woke} times in 20 check_delays"


def _settled(pid: int) -> bool:
    first = _main_thread_wakeups(pid)
    time.sleep(0.5)
    return _main_thread_wakeups(pid) == first


def _statsd_after_a_burst(tmp_path: Path, peers, config: str, burst: int) -> list[bytes]:
    """The datagrams a StatsdEmitter sent for one spawn, then ``burst`` spawns at once."""
    daemon = _daemon(tmp_path, peers)
    statsd = UdpListener()
    peers["closers"].append(statsd.close)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.statsd.StatsdEmitter",
                    f"port:{statsd.port}{config}")
    peers["plugins"].append(plugin)
    plugin.started()
    datagrams: list[bytes] = []
    statsd.sock.settimeout(0.05)
    wait_for(lambda: daemon.call("incr", name="sleeper")["status"] == "ok"
             and _receive(statsd, datagrams), "the first counter")
    assert daemon.call("incr", name="sleeper", nb=burst, waiting=True)["status"] == "ok"
    wait_for(lambda: _spawns(statsd, datagrams) >= burst + 1, f"{burst + 1} spawn counters")
    assert _spawns(statsd, datagrams) == burst + 1
    return datagrams


def test_statsd_counts_a_burst_in_few_packets(tmp_path: Path, peers) -> None:
    datagrams = _statsd_after_a_burst(tmp_path, peers, "", 50)
    assert len(datagrams) < 51 / 2, f"{len(datagrams)} packets for 51 counters"


def test_statsd_max_delay_zero_sends_each_counter_at_once(tmp_path: Path, peers) -> None:
    datagrams = _statsd_after_a_burst(tmp_path, peers, ":::max_delay:0", 20)
    assert all(d.endswith(b":1|c") and len(d.splitlines()) == 1 for d in datagrams), datagrams[:5]


def _receive(listener: UdpListener, into: list[bytes]) -> bool:
    while True:
        try:
            into.append(listener.sock.recv(65536))
        except (TimeoutError, BlockingIOError):
            return bool(into)


def _spawns(listener: UdpListener, datagrams: list[bytes]) -> int:
    _receive(listener, datagrams)
    lines = [line for d in datagrams for line in d.splitlines()]
    return sum(int(line.split(b":")[1].split(b"|")[0]) for line in lines
               if line.split(b":")[0].endswith(b".sleeper.spawn"))


def test_flapping_takes_only_the_events_it_uses(tmp_path: Path, peers) -> None:
    """After the first commanded death: no spawn or kill events; watchers added later followed."""
    daemon = _daemon(tmp_path, peers)
    out = tmp_path / "topics.jsonl"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "recmod.py").write_text(textwrap.dedent(RECORDER))
    plugin = Plugin(tmp_path, daemon, "recmod.Recorder",
                    f"out:{out}:::attempts:2:::window:5:::retry_in:60",
                    env={"PYTHONPATH": str(tmp_path / "mods")})
    peers["plugins"].append(plugin)
    plugin.started()

    def topics() -> list[str]:
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    # A commanded death shows the daemon flags them: the plugin narrows its subscriptions.
    wait_for(lambda: daemon.call("incr", name="sleeper", waiting=True)["status"] == "ok"
             and daemon.call("decr", name="sleeper", waiting=True)["status"] == "ok"
             and "watcher.sleeper.reap" in topics(), "a commanded reap")
    seen = len(topics())
    wait_for(lambda: daemon.call("incr", name="sleeper", waiting=True)["status"] == "ok"
             and daemon.call("decr", name="sleeper", waiting=True)["status"] == "ok"
             and any(t == "watcher.sleeper.reap" for t in topics()[seen:])
             and not any(t.endswith((".spawn", ".kill")) for t in topics()[seen:]),
             "reaps without spawns and kills")
    # A watcher added now is followed, and its crash loop is stopped.
    crasher = script(tmp_path, "crash.py", "import sys, time; time.sleep(0.05); sys.exit(3)\n")
    assert daemon.call("add", name="crasher", cmd=f"{PYTHON} {crasher}",
                       start=True)["status"] == "ok"
    plugin.wait_log("crasher: flapping detected")
    wait_for(lambda: daemon.status("crasher") == "stopped", "the plugin to stop crasher")
    assert "arbiter.add" in topics()
    assert not any(t.endswith((".spawn", ".kill")) for t in topics()[seen:])
