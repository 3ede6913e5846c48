"""Plugins across implementations: upstream circus 0.19's plugins against our circusd, and
ours against upstream's circusd. Both speak the same events and commands on the wire.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _circus_peer import circus_peer_root, peer_env
from _circus_run import wait_for
from circus.client import CircusClient, ClientError

BIN = Path(sys.executable).parent
CRASH = "import sys, time; time.sleep(0.05); sys.exit(2)\n"


class _Procs:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs() -> Iterator[_Procs]:
    started = _Procs()
    yield started
    started.stop_all()


def _ini(tmp_path: Path, python: str) -> tuple[Path, str, str]:
    endpoint, pubsub = f"ipc://{tmp_path}/ctl.sock", f"ipc://{tmp_path}/pub.sock"
    (tmp_path / "crash.py").write_text(CRASH)
    (tmp_path / "sleep.py").write_text("import time\nwhile True: time.sleep(1)\n")
    ini = tmp_path / "circus.ini"
    ini.write_text(textwrap.dedent(f"""
        [circus]
        endpoint = {endpoint}
        pubsub_endpoint = {pubsub}
        check_delay = 1

        [watcher:crasher]
        cmd = {python} {tmp_path}/crash.py

        [watcher:sleeper]
        cmd = {python} {tmp_path}/sleep.py
        numprocesses = 2
    """))
    return ini, endpoint, pubsub


def _client_ready(endpoint: str) -> CircusClient:
    client = CircusClient(endpoint, timeout=3)

    def answers() -> bool:
        try:
            return client.call("numwatchers").get("status") == "ok"
        except ClientError:
            return False

    wait_for(answers, "circusd to answer", timeout=30)
    return client


def test_upstream_plugins_against_our_circusd(tmp_path: Path, procs: _Procs) -> None:
    peer = circus_peer_root()
    ini, endpoint, pubsub = _ini(tmp_path, sys.executable)
    procs.start([str(BIN / "circusd"), str(ini)], tmp_path / "circusd.log")
    client = _client_ready(endpoint)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(0.2)
        for cls, config in (("circus.plugins.flapping.Flapping", "max_retry:0"),
                            ("circus.plugins.statsd.StatsdEmitter",
                             f"host:127.0.0.1:::port:{statsd.getsockname()[1]}")):
            procs.start([str(peer / "bin" / "circus-plugin"), "--endpoint", endpoint,
                         "--pubsub", pubsub, "--config", config, cls],
                        tmp_path / f"{cls}.log", env=peer_env())
        # Upstream's flapping stops our crash loop.
        wait_for(lambda: client.call("status", name="crasher")["status"] == "stopped",
                  "upstream's flapping plugin to stop crasher", timeout=30)
        received: list[str] = []

        def counted() -> bool:
            client.call("incr", name="sleeper")
            try:
                received.append(statsd.recv(4096).decode())
            except TimeoutError:
                return False
            return any(line.startswith("circus.app.watcher.sleeper.spawn:1|c")
                       for line in received)

        wait_for(counted, "upstream's statsd plugin to count our events", timeout=30)
    client.close()


def test_our_plugins_against_upstream_circusd(tmp_path: Path, procs: _Procs) -> None:
    peer = circus_peer_root()
    ini, endpoint, pubsub = _ini(tmp_path, str(peer / "bin" / "python"))
    procs.start([str(peer / "bin" / "circusd"), "--log-level", "debug", str(ini)],
                tmp_path / "circusd.log", env=peer_env())
    client = _client_ready(endpoint)
    log = tmp_path / "flapping.log"
    procs.start([str(BIN / "circus-plugin"), "--endpoint", endpoint, "--pubsub", pubsub,
                 "--log-output", str(log), "--config", "window:10:::max_retry:0",
                 "circus.plugins.flapping.Flapping"], tmp_path / "plugin.out")
    wait_for(lambda: client.call("status", name="crasher")["status"] == "stopped",
              "our flapping plugin to stop upstream's crasher", timeout=30)
    assert "crasher: flapping detected" in log.read_text()
    # A stop commanded on upstream's circusd is not taken for flapping either.
    assert client.call("stop", name="sleeper", waiting=True)["status"] == "ok"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert client.call("status", name="sleeper")["status"] == "stopped"
        time.sleep(0.1)
    assert "sleeper: flapping" not in log.read_text()
    client.close()
