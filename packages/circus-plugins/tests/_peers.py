"""Real peers for the plugin tests: our circusd, a circus-plugin process, a UDP listener.

Each object belongs to one test, lives in its tmp dir, and is stopped by the
fixture that made it; waits poll with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from circus.client import CircusClient, ClientError

BIN = Path(sys.executable).parent
PYTHON = str(Path(sys.executable).absolute())


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(tmp: Path, name: str, code: str) -> str:
    """Write a child program to ``tmp/name`` and return its path."""
    path = tmp / name
    path.write_text(textwrap.dedent(code))
    return str(path)


class Circusd:
    """Our circusd on ipc endpoints in ``tmp``, with the watchers given as ini text."""

    def __init__(self, tmp: Path, watchers: str, extra: str = "") -> None:
        self.tmp = tmp
        self.endpoint = f"ipc://{tmp}/ctl.sock"
        self.pubsub = f"ipc://{tmp}/pub.sock"
        self.ini = tmp / "circus.ini"
        self.ini.write_text(
            f"[circus]\nendpoint = {self.endpoint}\npubsub_endpoint = {self.pubsub}\n"
            f"{extra}\n{textwrap.dedent(watchers)}")
        self.log = tmp / "circusd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Circusd:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(BIN / "circusd"), "--log-level", "debug",
                                          str(self.ini)], stdout=out, stderr=subprocess.STDOUT)
        wait_for(self.answers, "circusd to answer")
        return self

    def answers(self) -> bool:
        try:
            return self.call("numwatchers").get("status") == "ok"
        except ClientError:
            return False

    def call(self, command: str, **props: Any) -> Mapping[str, Any]:
        with CircusClient(self.endpoint, timeout=5) as client:
            return client.call(command, **props)

    def pids(self, watcher: str) -> list[int]:
        return list(self.call("list", name=watcher).get("pids", []))

    def status(self, watcher: str) -> str:
        return str(self.call("status", name=watcher).get("status"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Plugin:
    """A ``circus-plugin`` process, its output in ``tmp/<label>.log``."""

    def __init__(self, tmp: Path, daemon: Circusd | None, cls: str, config: str | None = None,
                 label: str = "plugin", check_delay: float | None = None,
                 endpoint: str | None = None, pubsub: str | None = None,
                 env: dict[str, str] | None = None, log_level: str = "debug") -> None:
        self.log = tmp / f"{label}.log"
        self.log_level = log_level
        argv = [str(BIN / "circus-plugin"),
                "--endpoint", endpoint or (daemon.endpoint if daemon else "tcp://127.0.0.1:1"),
                "--pubsub", pubsub or (daemon.pubsub if daemon else "tcp://127.0.0.1:2"),
                "--log-level", log_level]
        if config is not None:
            argv += ["--config", config]
        if check_delay is not None:
            argv += ["--check-delay", str(check_delay)]
        argv.append(cls)
        self.argv = argv
        full_env = {**os.environ, **(env or {})}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         env=full_env)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 15.0) -> str:
        return str(wait_for(lambda: text in self.output() and self.output(),
                            f"{text!r} in the plugin's log:\n{self.output()}", timeout))

    def started(self) -> Plugin:
        """Wait until the plugin runs (its subscription may still be settling)."""
        self.wait_log("Starting")
        return self

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"plugin ignored SIGTERM:\n{self.output()}") from None


class UdpListener:
    """A UDP socket that collects datagrams (a stand-in statsd)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.lines: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                return self.lines
            self.lines.extend(data.decode().splitlines())

    def close(self) -> None:
        self.sock.close()
