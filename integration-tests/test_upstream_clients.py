"""Upstream circus 0.19's own clients drive OUR circusd.

The real ``circusctl`` 0.19 runs every one of its commands against our daemon
(exit codes and console output as upstream's daemon gives them), the real
``circus.client.CircusClient`` checks the reply keys, and the real ``listen``
and ``CircusConsumer`` receive our events (see "Events" in the circus-core
README).

The expectations were taken from upstream's own daemon: setting
``CIRCUS_COMPAT_DAEMON=upstream`` runs this file against upstream circusd
0.19 instead of ours, which is how they are re-checked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from _circus_peer import peer_env
from _circus_run import CircusRun, Daemon, alive, check, wait_for

KIND = os.environ.get("CIRCUS_COMPAT_DAEMON", "ours")
SCRIPT = Path(__file__).resolve().parent / "circus_scripts" / "upstream_client.py"
# The nine fields of a stats/dstats console line after the pid.
INFOLINE = r"\d+  \S+ \S+ -?\d+ [\d.]+[BKMGT]? [\d.]+[BKMGT]? [\d.]+ [\d.]+ \d+:\d+\.\d+"


@dataclass
class Target:
    """The daemon under test and the run that drives it."""

    run: CircusRun
    daemon: Daemon

    def ctl(self, *args: str, rc: int = 0, stdout: str | None = None) -> str:
        """Upstream circusctl against the daemon; check rc (and stdout); return stdout."""
        return check(self.run.upstream_ctl(self.daemon.endpoint, *args), rc, stdout).stdout

    def error(self, *args: str, rc: int = 3) -> str:
        """Upstream circusctl expected to fail with *rc*; return its stderr."""
        result = self.run.upstream_ctl(self.daemon.endpoint, *args)
        assert result.returncode == rc, (result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr

    def status(self, name: str) -> str:
        reply = self.daemon.call("status", name=name)
        assert isinstance(reply["status"], str), reply
        return reply["status"]


@pytest.fixture
def target(upstream_run: CircusRun) -> Iterator[Target]:
    """The daemon under test with watchers alpha (2 processes) and beta (1)."""
    config, endpoint, pubsub = upstream_run.config(
        "daemon", upstream_run.watchers({"alpha": 2, "beta": 1}))
    daemon = upstream_run.start(KIND, config, endpoint, pubsub)
    daemon.wait_pids("alpha", 2)
    daemon.wait_pids("beta", 1)
    yield Target(upstream_run, daemon)
    # Upstream logs tracebacks of its own global-lock bug; ours must not.
    if KIND == "ours":
        assert "Traceback" not in daemon.log_text(), daemon.log_text()


def _sleeper(run: CircusRun) -> Path:
    """An executable that sleeps until stopped (for ``add``, whose cmd cannot hold ``-c``)."""
    path = run.tmp_path / "sleeper.py"
    path.write_text(f"#!{sys.executable}\nimport time\nwhile True: time.sleep(1)\n")
    path.chmod(0o755)
    return path


# -- read-only commands ----------------------------------------------------------------


def test_list_status_and_counts_print_what_upstream_prints(target: Target) -> None:
    alpha = target.daemon.pids("alpha")
    target.ctl("list", stdout="alpha,beta\n")
    target.ctl("list", "alpha", stdout=",".join(map(str, alpha)) + "\n")
    target.ctl("status", stdout="alpha: active\nbeta: active\n")
    target.ctl("status", "beta", stdout="active\n")
    target.ctl("numwatchers", stdout="2\n")
    target.ctl("numprocesses", stdout="3\n")
    target.ctl("numprocesses", "alpha", stdout="2\n")
    assert target.error("list", "nosuch") == "error: program nosuch not found\n"
    # circusctl 0.19 prints a bare "error" for a failed status (its own bug).
    assert target.error("status", "nosuch") == "error\n"


def test_globaloptions_options_and_get(target: Target) -> None:
    lines = target.ctl("globaloptions").splitlines()
    assert f"endpoint: {target.daemon.endpoint}" in lines
    assert f"pubsub_endpoint: {target.daemon.pubsub}" in lines
    assert "check_delay: 1.0" in lines
    target.ctl("globaloptions", "check_delay", stdout="check_delay: 1.0\n")
    options = target.ctl("options", "beta").splitlines()
    for line in ("numprocesses: 1", "graceful_timeout: 5.0", "stop_signal: 15",
                 "singleton: False", "respawn: True", "max_age: 0", "max_age_variance: 30"):
        assert line in options, options
    assert any(line.startswith("cmd: ") and target.run.token in line for line in options)
    target.ctl("get", "beta", "numprocesses", "graceful_timeout",
               stdout="numprocesses: 1\ngraceful_timeout: 5.0\n")
    assert target.error("get", "beta", "nosuch").startswith("error: ")


def test_listsockets_dstats_stats_and_ipython(target: Target) -> None:
    # No sockets configured: circusctl prints one empty line.
    target.ctl("listsockets", stdout="\n")
    dstats = target.ctl("dstats")
    assert re.fullmatch(rf"Main Process:\n    {target.daemon.process.pid}  {INFOLINE[5:]}\n",
                        dstats), dstats
    alpha = target.daemon.pids("alpha")
    beta = target.daemon.pids("beta")
    stats = target.ctl("stats")
    rows = [rf"{pid}: {pid}  {INFOLINE[5:]}" for pid in alpha]
    assert re.fullmatch("alpha:\n" + "\n".join(rows) + "\nbeta:\n"
                        + rf"{beta[0]}: {beta[0]}  {INFOLINE[5:]}" + "\n", stats), stats
    one = target.ctl("stats", "beta")
    assert re.fullmatch(rf"beta:\n{beta[0]}: {beta[0]}  {INFOLINE[5:]}\n", one), one
    # No IPython in either daemon's venv: the client reports it, still exiting 0.
    target.ctl("ipython", stdout="error: Could not start ipython kernel\n")


# -- scaling and lifecycle ----------------------------------------------------------------


def test_incr_and_decr(target: Target) -> None:
    first = target.daemon.pids("alpha")
    target.ctl("incr", "alpha", stdout="ok\n")
    target.daemon.wait_pids("alpha", 3)
    target.ctl("incr", "alpha", "2", "--waiting", stdout="5\n")
    target.daemon.wait_pids("alpha", 5)
    target.ctl("decr", "alpha", "--waiting", stdout="4\n")
    target.ctl("decr", "alpha", stdout="ok\n")
    left = target.daemon.wait_pids("alpha", 3)
    # decr stops the oldest processes first.
    assert first[0] not in left and first[1] not in left
    target.ctl("numprocesses", "alpha", stdout="3\n")


def test_stop_start_restart_reload_and_kill(target: Target) -> None:
    old = target.daemon.pids("beta")
    target.ctl("stop", "beta", stdout="ok\n")
    wait_for(lambda: target.status("beta") == "stopped", "beta to stop")
    wait_for(lambda: not alive(old[0]), "beta's process to end")
    target.ctl("status", "beta", stdout="stopped\n")
    target.ctl("start", "beta", "--waiting", stdout="ok\n")
    target.ctl("status", "beta", stdout="active\n")
    started = target.daemon.wait_pids("beta", 1)
    target.ctl("restart", "beta", "--waiting", stdout="ok\n")
    restarted = target.daemon.wait_pids("beta", 1)
    assert restarted != started
    target.ctl("reload", "beta", "--waiting", stdout="ok\n")
    reloaded = target.daemon.wait_pids("beta", 1)
    target.ctl("kill", "beta", stdout="ok\n")
    wait_for(lambda: (p := target.daemon.pids("beta")) and p != reloaded,
             "beta's killed process to be replaced")
    target.ctl("stop", "beta", "--waiting", stdout="ok\n")
    target.ctl("start", "beta", stdout="ok\n")
    wait_for(lambda: target.status("beta") == "active", "beta to start")
    target.ctl("restart", "alpha", stdout="ok\n")
    target.ctl("reload", "alpha", stdout="ok\n")
    target.daemon.wait_pids("alpha", 2)
    assert target.error("start", "nosuch") == "error: program nosuch not found\n"


def test_stop_start_and_reload_everything(target: Target) -> None:
    target.ctl("stop", stdout="ok\n")
    wait_for(lambda: target.daemon.call("status")["statuses"]
             == {"alpha": "stopped", "beta": "stopped"}, "every watcher to stop")
    target.ctl("status", stdout="alpha: stopped\nbeta: stopped\n")
    target.ctl("start", stdout="ok\n")
    wait_for(lambda: target.daemon.call("status")["statuses"]
             == {"alpha": "active", "beta": "active"}, "every watcher to start")
    target.daemon.wait_pids("alpha", 2)
    target.ctl("reload", stdout="ok\n")
    target.daemon.wait_pids("alpha", 2)
    target.daemon.wait_pids("beta", 1)
    target.ctl("status", stdout="alpha: active\nbeta: active\n")


def test_set_and_signal(target: Target) -> None:
    target.ctl("set", "alpha", "numprocesses", "3", stdout="ok\n")
    pids = target.daemon.wait_pids("alpha", 3)
    target.ctl("set", "alpha", "graceful_timeout", "2", "--waiting", stdout="ok\n")
    target.ctl("get", "alpha", "graceful_timeout", stdout="graceful_timeout: 2.0\n")
    # The children ignore SIGWINCH (python's default): nothing may change.
    target.ctl("signal", "alpha", "WINCH", stdout="ok\n")
    target.ctl("signal", "alpha", "SIGWINCH", stdout="ok\n")
    assert target.daemon.pids("alpha") == pids
    # SIGTERM ends them and the watcher replaces them.
    target.ctl("signal", "alpha", "15", stdout="ok\n")
    wait_for(lambda: not any(alive(pid) for pid in pids), "the signalled processes to end")
    after = target.daemon.wait_pids("alpha", 3)
    assert not set(after) & set(pids)
    assert target.error("signal", "alpha", "NOSUCHSIG").startswith("error: ")


def test_add_and_rm(target: Target) -> None:
    target.ctl("add", "--start", "dyn", str(_sleeper(target.run)), target.run.token,
               stdout="ok\n")
    target.ctl("list", stdout="alpha,beta,dyn\n")
    [pid] = target.daemon.wait_pids("dyn", 1)
    target.ctl("rm", "dyn", stdout="ok\n")
    wait_for(lambda: not alive(pid), "dyn's process to end")
    wait_for(lambda: target.daemon.call("list")["watchers"] == ["alpha", "beta"],
             "dyn to be removed")
    target.ctl("list", stdout="alpha,beta\n")
    assert target.error("rm", "dyn") == "error: program dyn not found\n"


def test_reloadconfig_adds_a_watcher_from_the_file(target: Target) -> None:
    config = target.daemon.config
    config.write_text(config.read_text() + target.run.watchers({"gamma": 1}))
    target.ctl("reloadconfig", "--waiting", stdout="ok\n")
    target.daemon.wait_pids("gamma", 1)
    target.ctl("list", stdout="alpha,beta,gamma\n")
    target.ctl("reloadconfig", stdout="ok\n")
    target.daemon.wait_pids("gamma", 1)


@pytest.mark.parametrize("waiting", [False, True])
def test_quit_stops_the_daemon_and_its_processes(target: Target, waiting: bool) -> None:
    pids = target.daemon.pids("alpha") + target.daemon.pids("beta")
    target.ctl("quit", *(["--waiting"] if waiting else []), stdout="ok\n")
    target.daemon.process.wait(timeout=30)
    assert target.daemon.process.returncode == 0, target.daemon.log_text()
    assert not any(alive(pid) for pid in pids)


# -- listen -------------------------------------------------------------------------------


def test_listen_prints_our_events(target: Target) -> None:
    assert target.run.peer is not None
    listen = subprocess.Popen(
        [str(target.run.peer / "bin" / "circusctl"), "--endpoint", target.daemon.pubsub,
         "listen"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=target.run.client_env(peer_env()))
    lines: list[str] = []

    def read() -> None:
        assert listen.stdout is not None
        lines.extend(iter(listen.stdout.readline, ""))

    reader = threading.Thread(target=read)
    reader.start()
    pattern = re.compile(r"b'watcher\.alpha\.spawn': b'\{.*\"process_pid\": (\d+).*\}'")
    try:
        # listen subscribes asynchronously: add processes until one is reported.
        def reported() -> bool:
            if any(pattern.fullmatch(line.rstrip("\n")) for line in list(lines)):
                return True
            target.daemon.call("incr", name="alpha", waiting=True)
            return False

        wait_for(reported, "listen to print a spawn event")
    finally:
        listen.send_signal(signal.SIGINT)
        try:
            listen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            listen.kill()
            listen.wait()
        reader.join(timeout=10)
        assert listen.stdout is not None
        listen.stdout.close()
    spawned = {int(m.group(1)) for line in lines if (m := pattern.fullmatch(line.rstrip()))}
    assert spawned and spawned <= set(target.daemon.pids("alpha")), (spawned, lines)


# -- the client library and the consumer ----------------------------------------------------


def _library(target: Target, plan: list[list[Any]]) -> list[dict[str, Any]]:
    done = target.run.peer_python(SCRIPT, "calls", target.daemon.endpoint, json.dumps(plan))
    assert done.returncode == 0, (done.stdout, done.stderr)
    result = json.loads(done.stdout.splitlines()[-1])
    assert target.run.peer is not None
    assert result["circus_file"].startswith(str(target.run.peer)), result["circus_file"]
    replies: list[dict[str, Any]] = result["replies"]
    for reply in replies:
        assert isinstance(reply["time"], float), reply
        assert reply["status"] in ("ok", "active", "error"), reply
    return replies


def _keys(reply: dict[str, Any], *keys: str) -> None:
    assert reply["status"] == "ok", reply
    assert set(keys) <= set(reply), (keys, reply)


def _info(info: dict[str, Any]) -> None:
    for key in ("pid", "cmdline", "username", "nice", "mem_info1", "mem_info2", "cpu",
                "mem", "ctime"):
        assert key in info, (key, info)


def test_circus_client_read_only_reply_keys(target: Target) -> None:
    alpha = target.daemon.pids("alpha")
    replies = _library(target, [
        ["list", {}], ["list", {"name": "alpha"}], ["status", {}], ["status", {"name": "beta"}],
        ["numwatchers", {}], ["numprocesses", {}], ["numprocesses", {"name": "alpha"}],
        ["globaloptions", {}], ["listsockets", {}], ["options", {"name": "beta"}],
        ["get", {"name": "beta", "keys": ["numprocesses", "env"]}], ["dstats", {}],
        ["stats", {"extended": False}], ["stats", {"name": "alpha", "extended": False}],
        ["stats", {"name": "alpha", "process": alpha[0], "extended": False}],
        ["list", {"name": "nosuch"}], ["nosuchcommand", {}], ["get", {"name": "beta"}],
        ["listen", {}],
    ])
    (lst, lst_a, st, st_b, nw, npr, npr_a, glob, socks, opts, get, dst, stats, stats_a,
     stats_p, missing, unknown, incomplete, listen, sent) = replies
    assert lst["watchers"] == ["alpha", "beta"]
    assert lst_a["pids"] == alpha
    assert st["statuses"] == {"alpha": "active", "beta": "active"}
    assert st_b["status"] == "active" and "statuses" not in st_b
    assert nw["numwatchers"] == 2 and npr["numprocesses"] == 3
    assert npr_a["numprocesses"] == 2 and npr_a["watcher_name"] == "alpha"
    _keys(glob, "options")
    assert glob["options"]["pubsub_endpoint"] == target.daemon.pubsub
    assert glob["options"]["check_delay"] == 1.0
    assert socks["sockets"] == []
    _keys(opts, "options")
    assert opts["options"]["numprocesses"] == 1 and opts["options"]["stop_signal"] == 15
    assert opts["options"]["graceful_timeout"] == 5.0
    assert get["options"] == {"numprocesses": 1, "env": {}}
    _keys(dst, "info")
    _info(dst["info"])
    assert dst["info"]["pid"] == target.daemon.process.pid
    assert set(stats["infos"]) == {"alpha", "beta"}
    assert set(stats["infos"]["alpha"]) == {str(pid) for pid in alpha}
    for info in stats["infos"]["alpha"].values():
        _info(info)
        assert set(info) >= {"started", "age", "children", "wid"}
    assert stats_a["name"] == "alpha" and set(stats_a["info"]) == {str(pid) for pid in alpha}
    assert stats_p["process"] == alpha[0] and stats_p["info"]["pid"] == alpha[0]
    assert (missing["status"], missing["errno"], missing["reason"]) == (
        "error", 3, "program nosuch not found")
    assert (unknown["status"], unknown["errno"]) == ("error", 2)
    assert unknown["reason"] == "unknown command: 'nosuchcommand'"
    assert (incomplete["status"], incomplete["errno"]) == ("error", 3)
    assert "keys" in incomplete["reason"]
    assert (listen["status"], listen["errno"]) == ("error", 3)
    assert sent["numwatchers"] == 2


def test_circus_client_mutating_reply_keys(target: Target) -> None:
    replies = _library(target, [
        ["incr", {"name": "alpha", "nb": 2, "waiting": True}],
        ["decr", {"name": "alpha", "waiting": True}],
        ["incr", {"name": "alpha", "waiting": False}],
        ["start", {"name": "beta", "waiting": True, "match": "glob"}],
        ["restart", {"name": "beta", "waiting": True, "match": "glob"}],
        ["reload", {"name": "beta", "waiting": True, "graceful": True, "sequential": False}],
        ["stop", {"name": "beta", "waiting": True, "match": "glob"}],
        ["start", {"name": "be*", "waiting": True, "match": "glob"}],
        ["start", {"name": "x", "waiting": True, "match": "nosuch"}],
        ["set", {"name": "alpha", "waiting": True, "options": {"graceful_timeout": 3.0}}],
        ["set", {"name": "alpha", "options": {"nosuch": 1}}],
        ["signal", {"name": "alpha", "signum": "WINCH", "children": False,
                    "recursive": False}],
        ["kill", {"name": "beta", "signum": "TERM", "graceful_timeout": "2"}],
        ["add", {"name": "dyn", "cmd": f"{_sleeper(target.run)} {target.run.token}",
                 "start": True, "waiting": True}],
        ["add", {"name": "dyn", "cmd": "true"}],
        ["rm", {"name": "dyn", "waiting": True}],
        ["ipython", {}],
    ])
    (incr, decr, incr_now, start, restart, reload, stop, start_glob, bad_match, set_ok,
     set_bad, sig, kill, add, add_dup, rm, ipython, _sent) = replies
    assert incr["numprocesses"] == 4 and decr["numprocesses"] == 3
    assert incr_now["status"] == "ok"
    _keys(start, "info")
    assert set(start["info"]) >= {"started", "kept"}
    _keys(restart, "info")
    assert set(restart["info"]) >= {"stopped", "started", "kept"}
    _keys(reload, "info")
    assert set(reload["info"]) >= {"stopped", "started", "kept"}
    _keys(stop, "info")
    assert stop["info"] is None
    _keys(start_glob, "info")
    assert (bad_match["status"], bad_match["errno"]) == ("error", 3)
    _keys(set_ok)
    assert (set_bad["status"], set_bad["errno"]) == ("error", 3)
    for reply in (sig, kill, add, rm):
        _keys(reply)
    assert add_dup["status"] == "error" and add_dup["errno"] in (3, 5)
    assert ipython["status"] == "ok" and set(ipython) >= {"shell", "msg"}
    target.daemon.wait_pids("alpha", 4)
    assert target.daemon.call("list")["watchers"] == ["alpha", "beta"]


def test_upstream_consumer_receives_our_events(target: Target) -> None:
    done = target.run.peer_python(SCRIPT, "events", target.daemon.endpoint,
                                  target.daemon.pubsub, "beta")
    assert done.returncode == 0, (done.stdout, done.stderr)
    result = json.loads(done.stdout.splitlines()[-1])
    assert [reply["status"] for reply in result["replies"]] == ["ok", "ok"]
    events: list[tuple[str, dict[str, Any]]] = [tuple(e) for e in result["events"]]
    topics = [topic for topic, _ in events]
    for suffix in ("kill", "reap", "stop", "start", "spawn"):
        assert f"watcher.beta.{suffix}" in topics, topics
    # stop: kill and reap for every process, then stop; start: start after the spawns.
    assert topics.index("watcher.beta.kill") < topics.index("watcher.beta.stop")
    assert topics.index("watcher.beta.stop") < topics.index("watcher.beta.start")
    required = {"spawn": {"process_pid", "time"}, "kill": {"process_pid", "time"},
                "reap": {"process_pid", "time", "exit_code"}, "stop": {"time"},
                "start": {"time"}}
    for topic, payload in events + [tuple(e) for e in result["before"]]:
        event = topic.rsplit(".", 1)[1]
        assert required.get(event, {"time"}) <= set(payload), (topic, payload)
        assert isinstance(payload["time"], float)
        if "process_pid" in required.get(event, set()):
            assert isinstance(payload["process_pid"], int)
    reaps = [p for t, p in events if t == "watcher.beta.reap"]
    assert all(isinstance(p["exit_code"], int) for p in reaps)


def test_events_are_two_frames_on_a_sub_socket(target: Target) -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"watcher.")
    sub.connect(target.daemon.pubsub)
    frames: list[list[bytes]] = []
    try:
        def spawned() -> bool:
            while sub.poll(0):
                frames.append(sub.recv_multipart())
            if any(f[0] == b"watcher.alpha.spawn" for f in frames):
                return True
            target.daemon.call("incr", name="alpha", waiting=True)
            return False

        wait_for(spawned, "a spawn event on the SUB socket")
        mark = len(frames)
        assert target.daemon.call("add", name="dyn", cmd="true", start=False)["status"] == "ok"
        assert target.daemon.call("rm", name="dyn", waiting=True)["status"] == "ok"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(
                f[0] == b"watcher.dyn.remove" for f in frames[mark:]):
            if sub.poll(100):
                frames.append(sub.recv_multipart())
    finally:
        sub.close()
    topics = [f[0] for f in frames[mark:]]
    assert b"watcher.dyn.add" in topics and b"watcher.dyn.remove" in topics, topics
    for frame in frames:
        assert len(frame) == 2, frame
        assert isinstance(json.loads(frame[1])["time"], float)
