"""A throwaway sshd on a free port of 127.0.0.1, for ``--ssh`` tunnels in tests.

It accepts one generated key for the current user (root here, as in CI) and
the tunnel's side trusts its host key through ``$HOME/.ssh/known_hosts``:
run clients with :attr:`Sshd.home` as ``HOME``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _circus_run import wait_for

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    """How to reach the server: ``--ssh user@127.0.0.1:port --ssh-keyfile key``."""

    port: int
    key: Path
    home: Path

    @property
    def server(self) -> str:
        return f"{os.environ.get('USER', 'root')}@127.0.0.1:{self.port}"


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_sshd(workdir: Path, port: int) -> Iterator[Sshd]:
    """Start sshd on ``port`` with keys and config in ``workdir``; stop it on exit."""
    for tool in (SSHD, "ssh-keygen"):
        assert shutil.which(tool), f"{tool} is needed (make test installs openssh-server)"
    host_key, client_key = workdir / "host_key", workdir / "client_key"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    authorized = workdir / "authorized_keys"
    authorized.write_text((workdir / "client_key.pub").read_text())
    config = workdir / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nAuthorizedKeysFile {authorized}\nStrictModes no\n"
        "PermitRootLogin yes\nPasswordAuthentication no\nUsePAM no\n"
        f"PidFile {workdir / 'sshd.pid'}\nAllowTcpForwarding yes\n")
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-p", str(port), "-f", str(config),
                             "-h", str(host_key)], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _accepts(port) or proc.poll() is not None, "sshd to listen")
        assert proc.poll() is None, proc.communicate()[1]
        home = workdir / "home"
        (home / ".ssh").mkdir(parents=True)
        kind, public = (workdir / "host_key.pub").read_text().split()[:2]
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {public}\n")
        yield Sshd(port, client_key, home)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
