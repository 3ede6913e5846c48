"""``circushttpd --ssh``: the console reaches circusd through a real sshd.

The sshd is a throwaway one on a free port that accepts one generated key for
root (the tests run as root), as circus-ctl's ssh tests do. circusd listens on
TCP (the tunnel forwards TCP ports); the control, event and stats channels
all go through the tunnel, and sshd's log shows the key was accepted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Circusd, EventStream, free_port, wait_for

SSHD = "/usr/sbin/sshd"


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Sshd:
    """A throwaway sshd whose log (``-e``) is collected in a file."""

    def __init__(self, tmp_path: Path) -> None:
        for tool in (SSHD, "ssh-keygen"):
            assert shutil.which(tool), f"{tool} is needed for this test"
        host_key, self.client_key = tmp_path / "host_key", tmp_path / "client_key"
        for key in (host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        authorized = tmp_path / "authorized_keys"
        authorized.write_text((tmp_path / "client_key.pub").read_text())
        self.port = free_port()
        config = tmp_path / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\nAuthorizedKeysFile {authorized}\nStrictModes no\n"
            "PermitRootLogin yes\nPasswordAuthentication no\nUsePAM no\n"
            f"PidFile {tmp_path / 'sshd.pid'}\nAllowTcpForwarding yes\n")
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
        self.log = tmp_path / "sshd.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-p", str(self.port), "-f",
                                          str(config), "-h", str(host_key)], stderr=log)
        wait_for(lambda: _accepts(self.port) or self.proc.poll() is not None, what="sshd")
        assert self.proc.poll() is None, self.log.read_text()
        # pyzmq's paramiko tunnel rejects unknown hosts: trust this one via ~/.ssh.
        self.home = tmp_path / "home"
        (self.home / ".ssh").mkdir(parents=True)
        kind, public = (tmp_path / "host_key.pub").read_text().split()[:2]
        (self.home / ".ssh" / "known_hosts").write_text(
            f"[127.0.0.1]:{self.port} {kind} {public}\n")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path)
    try:
        yield server
    finally:
        server.close()


class TcpCircusd(Circusd):
    """circusd with its three channels on TCP ports of 127.0.0.1."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, "ssh")
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.pubsub = f"tcp://127.0.0.1:{free_port()}"
        self.stats = f"tcp://127.0.0.1:{free_port()}"

    def _answers(self) -> bool:
        return _accepts(int(self.endpoint.rsplit(":", 1)[1]))


def test_the_console_through_an_ssh_tunnel(tmp_path: Path, sshd: Sshd, webs: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    circusd = TcpCircusd(tmp_path)
    try:
        circusd.start(circusd.watcher("w", extra="publish_output = True\ngraceful_timeout = 2"))
        monkeypatch.setenv("HOME", str(sshd.home))  # circushttpd's known_hosts
        web = webs("--endpoint", circusd.endpoint, "--ssh", f"root@127.0.0.1:{sshd.port}",
                   "--ssh-keyfile", str(sshd.client_key))
        stream = EventStream(web.base, "/api/events?tail=n0/w")
        try:
            # Control channel: the watcher and its process.
            _, node = stream.first(lambda e, d: e == "node" and d["state"] == "up"
                                   and d["watchers"].get("w", {}).get("pids"), timeout=30,
                                   what="the node through the tunnel")
            assert node["watchers"]["w"]["pids"] == circusd.pids("w")
            # Event channel: the worker's lines; stats channel: its CPU.
            stream.first(lambda e, d: e == "output" and any(" line " in line["data"]
                                                            for line in d["lines"]),
                         timeout=30, what="output through the tunnel")
            stream.first(lambda e, d: e == "stats" and d["pids"], timeout=30,
                         what="stats through the tunnel")
        finally:
            stream.close()
        assert "Accepted publickey for root" in sshd.log.read_text()
    finally:
        circusd.close()
