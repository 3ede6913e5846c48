"""Signals sent to a running circusd, and ``--daemon``.

HUP reloads every watcher (new processes, same daemon); TERM, INT and QUIT
stop the watchers lowest priority first and exit 0 with no child left. The
children record their own SIGTERM in a shared file, so the stop order is
what the children saw, not what the log claims.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import psutil
import pytest
from circus._watching.reaper import become_subreaper
from conftest import pid_exists_not_zombie, poll

# Appends "<name> <pid>" to stopped.log when it gets SIGTERM, then exits.
CHILD = """\
import os, signal, sys, time
name = sys.argv[1]
def on_term(signum, frame):
    with open("stopped.log", "a") as handle:
        handle.write(f"{name} {os.getpid()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(f"{name}-{os.getpid()}.ready", "w").close()
while True:
    time.sleep(0.2)
"""

# name -> (priority, numprocesses); names sort differently from priorities.
WATCHERS = {"alpha": (10, 1), "mid": (5, 2), "zulu": (1, 2)}


def _write_config(circusd, extra_circus: str = "") -> str:
    circusd.write("child.py", CHILD)
    text = f"[circus]\n{extra_circus}\n"
    for name, (priority, count) in WATCHERS.items():
        text += (
            f"\n[watcher:{name}]\ncmd = {sys.executable} child.py {name}\n"
            f"priority = {priority}\nnumprocesses = {count}\ngraceful_timeout = 3\n"
        )
    return str(circusd.write("circus.ini", text))


def _total() -> int:
    return sum(count for _, count in WATCHERS.values())


def _wait_ready(circusd, tmp_path, pids: set[int]) -> None:
    """Wait until every child in ``pids`` has installed its SIGTERM handler."""
    def ready() -> bool:
        return {int(p.stem.split("-")[1]) for p in tmp_path.glob("*.ready")} >= pids

    poll(ready)


def _stop_order(tmp_path) -> list[str]:
    lines = (tmp_path / "stopped.log").read_text().splitlines()
    return [line.split()[0] for line in lines]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT],
                         ids=lambda s: signal.Signals(s).name)
def test_quit_signals_stop_lowest_priority_first_and_exit_0(circusd, tmp_path, signum):
    proc = circusd.start(_write_config(circusd))
    _wait_ready(circusd, tmp_path, set(proc.wait_children(_total())))
    assert proc.stop(signum) == 0  # stop() also asserts every child is gone
    assert _stop_order(tmp_path) == ["zulu", "zulu", "mid", "mid", "alpha"]
    assert f"received {signal.Signals(signum).name}; quitting" in proc.stdout()
    assert "Traceback" not in proc.stderr()


def test_start_order_is_highest_priority_first(circusd, tmp_path):
    proc = circusd.start(_write_config(circusd))
    poll(lambda: "arbiter running" in proc.stdout())
    started = [line for line in proc.stdout().splitlines() if "started (" in line]
    assert [line.split("watcher ")[1].split()[0] for line in started] == ["alpha", "mid", "zulu"]
    assert proc.stop() == 0


def test_sighup_reloads_every_watcher_and_keeps_running(circusd, tmp_path):
    proc = circusd.start(_write_config(circusd))
    old = set(proc.wait_children(_total()))
    _wait_ready(circusd, tmp_path, old)
    proc.popen.send_signal(signal.SIGHUP)

    def replaced() -> set[int]:
        pids = set(proc.children())
        return pids if len(pids) == _total() and not pids & old else set()

    new = poll(replaced)
    assert proc.popen.poll() is None, "circusd must survive SIGHUP"
    assert "received SIGHUP; reloading" in proc.stdout()
    poll(lambda: not any(pid_exists_not_zombie(pid) for pid in old))
    assert sorted(_stop_order(tmp_path)) == ["alpha", "mid", "mid", "zulu", "zulu"]
    assert {int(line.split()[1]) for line in (tmp_path / "stopped.log").read_text().splitlines()
            } == old
    assert set(proc.children()) == new
    assert proc.stop() == 0


def test_daemon_detaches_and_stops_on_sigterm(circusd, tmp_path):
    # Orphans (the daemon and its short-lived intermediate parent) come back
    # to this process, so it can reap them and the leak check stays exact.
    assert become_subreaper()
    before = {p.pid for p in psutil.Process().children()}
    pidfile = tmp_path / "circusd.pid"
    log = tmp_path / "daemon.log"
    config = _write_config(circusd)
    began = time.monotonic()
    parent = circusd.start("--daemon", "--pidfile", str(pidfile), "--log-output", str(log),
                           config)
    assert parent.popen.wait(timeout=10) == 0
    assert time.monotonic() - began < 5, "the parent must exit at once"
    daemon_pid = int(poll(lambda: pidfile.exists() and pidfile.read_text().strip()))
    try:
        assert daemon_pid != parent.pid
        daemon = psutil.Process(daemon_pid)
        assert daemon.ppid() == os.getpid()  # re-parented: nothing holds it in the foreground
        assert os.getsid(daemon_pid) != os.getsid(0), "the daemon must leave our session"
        assert daemon.terminal() is None
        children = poll(lambda: len(kids := daemon.children()) == _total() and kids)
        _wait_ready(circusd, tmp_path, {child.pid for child in children})
        poll(lambda: log.exists() and "arbiter running" in log.read_text())
        assert f"starting (pid {daemon_pid})" in log.read_text()
        assert parent.stdout() == "" and parent.stderr() == ""

        os.kill(daemon_pid, signal.SIGTERM)
        poll(lambda: not pid_exists_not_zombie(daemon_pid))
        assert os.waitpid(daemon_pid, 0)[1] == 0
        assert not any(pid_exists_not_zombie(child.pid) for child in children)
        assert not pidfile.exists()
        assert _stop_order(tmp_path) == ["zulu", "zulu", "mid", "mid", "alpha"]
        assert "circusd stopped" in log.read_text()
    finally:
        _reap_new_children(before, daemon_pid)


def _reap_new_children(before: set[int], daemon_pid: int) -> None:
    """Kill (if the test failed early) and reap what the daemonising forks left us."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(daemon_pid).children():
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(daemon_pid, signal.SIGKILL)
    for child in psutil.Process().children():
        if child.pid not in before:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child.pid, 0)


def test_sigterm_during_a_long_start_is_honoured_at_once(circusd):
    """A quit during the start of many processes stops spawning and quits promptly."""
    config = circusd.write("many.ini", """
[circus]
loglevel = debug

[watcher:many]
cmd = sleep 600
numprocesses = 5000
""")
    proc = circusd.start(str(config))
    poll(lambda: len(proc.children()) >= 50, timeout=30)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(timeout=60) == 0
    spawned = proc.stdout().count("spawned pid")
    assert 50 <= spawned < 5000, spawned
    assert "Traceback" not in proc.stderr()


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGUSR2],
                         ids=lambda s: signal.Signals(s).name)
def test_sigusr_is_logged_and_ignored(circusd, tmp_path, signum):
    # Upstream has no handler: the default action killed circusd, orphaning the workers.
    proc = circusd.start(_write_config(circusd))
    pids = set(proc.wait_children(_total()))
    for _ in range(50):
        proc.popen.send_signal(signum)
    poll(lambda: f"received {signal.Signals(signum).name}; ignored" in proc.stdout())
    assert proc.popen.poll() is None
    assert set(proc.children()) == pids  # nothing restarted
    # Rate-limited: one line a second at most, however many arrive.
    assert proc.stdout().count(f"received {signal.Signals(signum).name}") <= 2
    assert proc.stop() == 0
