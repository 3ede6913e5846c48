"""Etsy's statsd daemon (npm ``statsd``), run with node for the tests.

It is installed once per machine with npm into a cache directory outside the
repository, under a file lock (suites may run concurrently). Counters are read
back through its management port (``counters`` command), with a flush interval
long enough that nothing is reset during a test.
"""

from __future__ import annotations

import ast
import fcntl
import json
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from _peers import free_port, wait_for

VERSION = "0.9.0"
ROOT = Path(tempfile.gettempdir()) / "circus-test-peers" / f"statsd-{VERSION}"


def install() -> Path:
    """The statsd package directory, installed with npm if missing."""
    npm = shutil.which("npm")
    assert npm is not None and shutil.which("node"), \
        "node and npm are missing: make system-deps installs them"
    ROOT.parent.mkdir(parents=True, exist_ok=True)
    package = ROOT / "node_modules" / "statsd"
    with open(f"{ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (package / "stats.js").exists():
            ROOT.mkdir(exist_ok=True)
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(ROOT),
                 f"statsd@{VERSION}"], capture_output=True, text=True, timeout=600, check=False)
            assert result.returncode == 0, f"npm install statsd failed:\n{result.stderr}"
    return package


class EtsyStatsd:
    """A running statsd daemon on 127.0.0.1 (UDP ``port``, management ``mgmt_port``)."""

    def __init__(self, tmp: Path) -> None:
        package = install()
        self.port = free_port(socket.SOCK_DGRAM)
        self.mgmt_port = free_port()
        config = tmp / "statsd-config.js"
        config.write_text("(" + json.dumps({
            "address": "127.0.0.1", "port": self.port, "mgmt_address": "127.0.0.1",
            "mgmt_port": self.mgmt_port, "flushInterval": 3_600_000, "backends": [],
        }) + ")\n")
        self.log = tmp / "statsd.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(shutil.which("node")), "stats.js", str(config)],
                                         cwd=package, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._mgmt_up, "statsd's management port")

    def _mgmt_up(self) -> bool:
        try:
            self._ask("counters")
        except OSError:
            return False
        return True

    def _ask(self, command: str) -> str:
        with socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=5) as sock:
            sock.sendall(command.encode() + b"\n")
            data = b""
            while b"END" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def counters(self) -> dict[str, float]:
        """Every counter statsd holds (sampled packets already scaled by 1 / rate)."""
        text = self._ask("counters").split("END")[0].strip()
        # util.inspect prints a JS object literal: quote the bare keys, then read it.
        pythonish = re.sub(r"(?m)^(\s*)([A-Za-z_$][\w$.]*)\s*:", r"\1'\2':", text)
        pythonish = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r"\1'\2':", pythonish)
        return {str(k): float(v) for k, v in ast.literal_eval(pythonish).items()}

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
