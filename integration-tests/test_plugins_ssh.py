"""circus-plugin --ssh: a plugin reaches circusd's control and event endpoints through ssh.

A real sshd on 127.0.0.1 stands in for circusd's host. circus-plugin has only
upstream's ``--ssh user@host:port`` (no key option), so the client key is put
where ssh clients look for it, ``$HOME/.ssh/id_ed25519``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from _circus_run import wait_for
from _sshd import running_sshd
from circus.client import CircusClient, ClientError
from conftest import free_port

BIN = Path(sys.executable).parent


def test_flapping_through_an_ssh_tunnel(tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pubsub = f"tcp://127.0.0.1:{free_port()}"
    (tmp_path / "crash.py").write_text("import sys, time; time.sleep(0.05); sys.exit(2)\n")
    ini = tmp_path / "circus.ini"
    ini.write_text(textwrap.dedent(f"""
        [circus]
        endpoint = {endpoint}
        pubsub_endpoint = {pubsub}

        [watcher:crasher]
        cmd = {sys.executable} {tmp_path}/crash.py
    """))
    daemon = subprocess.Popen([str(BIN / "circusd"), str(ini)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    plugin = None
    log = tmp_path / "plugin.log"
    (tmp_path / "ssh").mkdir()
    try:
        with CircusClient(endpoint, timeout=3) as client, \
                running_sshd(tmp_path / "ssh", free_port()) as sshd:
            def answers() -> bool:
                try:
                    return client.call("numwatchers").get("status") == "ok"
                except ClientError:
                    return False

            wait_for(answers, "circusd", timeout=30)
            shutil.copy(sshd.key, sshd.home / ".ssh" / "id_ed25519")
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            env["HOME"] = str(sshd.home)
            plugin = subprocess.Popen(
                [str(BIN / "circus-plugin"), "--endpoint", endpoint, "--pubsub", pubsub,
                 "--ssh", sshd.server, "--log-output", str(log), "--config",
                 "window:5:::max_retry:0", "circus.plugins.flapping.Flapping"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: client.call("status", name="crasher")["status"] == "stopped",
                      "the tunnelled flapping plugin to stop crasher", timeout=30)
            assert "crasher: flapping detected" in log.read_text()
            plugin.send_signal(signal.SIGTERM)
            assert plugin.wait(30) == 0, log.read_text()
    finally:
        for proc in (plugin, daemon):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    assert "Traceback" not in log.read_text()
