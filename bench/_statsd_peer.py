"""Etsy's statsd daemon (npm ``statsd`` 0.9.0), run with node, for the plugin-statsd scenario.

It is installed with npm into the same per-machine cache the circus-plugins
tests use (``$TMPDIR/circus-test-peers/statsd-0.9.0``, under the same file
lock), so the bench and the tests share one copy. Counters are read back from
its management port (``counters``); the flush interval is an hour, so nothing
is reset while the bench counts.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

VERSION = "0.9.0"
ROOT = Path(tempfile.gettempdir()) / "circus-test-peers" / f"statsd-{VERSION}"


class StatsdUnavailable(Exception):
    """node or npm is missing, or npm could not install statsd."""


def install() -> Path:
    """The statsd package directory, installed with npm if missing."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise StatsdUnavailable("node and npm are missing (make system-deps installs them)")
    ROOT.parent.mkdir(parents=True, exist_ok=True)
    package = ROOT / "node_modules" / "statsd"
    with open(f"{ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (package / "stats.js").exists():
            print(f"installing statsd@{VERSION} with npm into {ROOT} ...", flush=True)
            ROOT.mkdir(exist_ok=True)
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(ROOT),
                 f"statsd@{VERSION}"], capture_output=True, text=True, timeout=600,
                check=False)
            if done.returncode != 0:
                tail = " | ".join(done.stderr.strip().splitlines()[-3:])
                raise StatsdUnavailable(f"npm install statsd@{VERSION} failed: {tail}")
    return package


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EtsyStatsd:
    """A running statsd on 127.0.0.1: UDP ``port``, management TCP ``mgmt_port``."""

    def __init__(self, workdir: Path, timeout: float = 20.0) -> None:
        package = install()
        self.port = _free_port(socket.SOCK_DGRAM)
        self.mgmt_port = _free_port(socket.SOCK_STREAM)
        config = workdir / "statsd-config.js"
        config.write_text("(" + json.dumps({
            "address": "127.0.0.1", "port": self.port, "mgmt_address": "127.0.0.1",
            "mgmt_port": self.mgmt_port, "flushInterval": 3_600_000, "backends": [],
        }) + ")\n")
        self._out = open(workdir / "statsd.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([str(shutil.which("node")), "stats.js", str(config)],
                                     cwd=package, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.counters()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise StatsdUnavailable("statsd's management port never answered") from None
                time.sleep(0.05)

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
        """Every counter statsd holds."""
        text = self._ask("counters").split("END")[0].strip()
        # node's util.inspect prints a JS object literal: quote the bare keys, then read it.
        pythonish = re.sub(r"(?m)^(\s*)([A-Za-z_$][\w$.]*)\s*:", r"\1'\2':", text)
        pythonish = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r"\1'\2':", pythonish)
        return {str(k): float(v) for k, v in ast.literal_eval(pythonish).items()}

    def close(self) -> None:
        """Stop statsd."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
