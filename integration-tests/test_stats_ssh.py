"""circusd-stats and circus-top reach their endpoints through ``--ssh`` tunnels.

A real sshd on 127.0.0.1 stands in for the remote host: circusd-stats talks
to circusd's control and event endpoints through it, and circus-top reads the
stats channel through it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from _circus_run import BIN, CircusRun
from _pty_screen import PtyScreen
from _sshd import running_sshd
from _stats_feed import StatsFeed
from conftest import free_port


def test_circusd_stats_and_circus_top_through_ssh(circus_run: CircusRun,
                                                  tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pubsub = f"tcp://127.0.0.1:{free_port()}"
    stats = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "ssh.ini"
    config.write_text(f"[circus]\nendpoint = {endpoint}\npubsub_endpoint = {pubsub}\n\n"
                      + circus_run.watchers({"sleepers": 2}))
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    pids = daemon.wait_pids("sleepers", 2)
    (tmp_path / "ssh").mkdir()
    with running_sshd(tmp_path / "ssh", free_port()) as sshd:
        env = circus_run.client_env(dict(os.environ, HOME=str(sshd.home)))
        ssh = ["--ssh", sshd.server, "--ssh-keyfile", str(sshd.key)]
        log = tmp_path / "circusd-stats.log"
        with open(log, "wb") as out:
            aggregator = subprocess.Popen(
                [str(BIN / "circusd-stats"), "--endpoint", endpoint, "--pubsub", pubsub,
                 "--statspoint", stats, *ssh],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        feed = StatsFeed(stats)
        top = None
        try:
            for pid in pids:  # learnt through the tunnelled `list`
                feed.wait(f"stat.sleepers.{pid}", timeout=30)
            daemon.call("incr", name="sleepers")  # seen through the tunnelled events
            feed.wait("stat.sleepers", lambda p: len(p["pid"]) == 3, timeout=30)
            top = PtyScreen([str(BIN / "circus-top"), "--endpoint", stats, *ssh], env)
            top.wait_for(lambda screen: "sleepers" in screen
                         and all(str(pid) in screen for pid in pids),
                         "circus-top to show the pids through its tunnel", timeout=30)
            top.send("q")
            assert top.process.wait(timeout=15) == 0
        finally:
            if top is not None:
                top.close()
            feed.close()
            aggregator.send_signal(signal.SIGTERM)
            code = aggregator.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "Traceback" not in text
