"""Real circusd daemons, real circusd-stats processes and a SUB on the stats channel."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest
import zmq

CIRCUSD = str(Path(sys.executable).parent / "circusd")
STATS_CMD = "from circus import stats; stats.main()"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """The environment of circusd, circusd-stats and their children.

    They import circus from the installed wheels, as a user's would: nothing
    puts ``src/`` on their path.
    """
    return dict(os.environ)


class StatsSub:
    """A SUB on the stats endpoint that decodes ``[topic, json]`` messages."""

    def __init__(self, context: zmq.Context[Any], endpoint: str, prefix: bytes = b"stat.") -> None:
        self.sock = context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, prefix)
        self.sock.connect(endpoint)

    def until(self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = 10.0,
              what: str = "a stats message") -> tuple[str, dict[str, Any]]:
        """The first message for which ``predicate(topic, payload)`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(100):
                topic, body = self.sock.recv_multipart()
                payload = json.loads(body)
                if predicate(topic.decode(), payload):
                    return topic.decode(), payload
        raise AssertionError(f"timed out waiting for {what}")

    def tick(self, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        """Every message of one whole tick (``stat.sockets`` is always a tick's last)."""
        self.until(lambda t, _: t == "stat.sockets", timeout, "the end of a tick")
        seen: dict[str, dict[str, Any]] = {}
        topic = ""
        while topic != "stat.sockets":
            topic, payload = self.until(lambda t, _: True, timeout, "a whole tick")
            seen[topic] = payload
        return seen

    def close(self) -> None:
        self.sock.close()


def _listening(path: Path) -> bool:
    """True once a unix socket at *path* accepts connections."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class Harness:
    """One test's circusd / circusd-stats processes, endpoints and SUB sockets."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ipc = Path(tempfile.mkdtemp(prefix="cstats-", dir="/tmp"))
        self.endpoint = f"ipc://{self.ipc}/ctl"
        self.pubsub = f"ipc://{self.ipc}/pub"
        self.statspoint = f"ipc://{self.ipc}/stats"
        self.context: zmq.Context[Any] = zmq.Context()
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.stats: list[subprocess.Popen[bytes]] = []
        self.subs: list[StatsSub] = []
        self.descendants: set[psutil.Process] = set()

    def stats_args(self, *extra: str) -> list[str]:
        return ["--endpoint", self.endpoint, "--pubsub", self.pubsub,
                "--statspoint", self.statspoint, *extra]

    def stats_watcher(self, *extra: str) -> str:
        """An ini section running circusd-stats under circusd with circusd's sockets."""
        args = " ".join(self.stats_args("--log-output", str(self.tmp_path / "stats.log"), *extra))
        return (f"[watcher:circusd-stats]\ncmd = {sys.executable} -c '{STATS_CMD}' {args}\n"
                "use_sockets = True\nsingleton = True\ncopy_env = True\n")

    def start_circusd(self, sections: str) -> subprocess.Popen[bytes]:
        ini = self.tmp_path / "circus.ini"
        ini.write_text(f"[circus]\nendpoint = {self.endpoint}\npubsub_endpoint = {self.pubsub}\n"
                       f"check_delay = 0\n\n{sections}")
        (self.ipc / "ctl").unlink(missing_ok=True)  # a previous daemon's leftover
        with open(self.tmp_path / "circusd.log", "ab") as log:
            proc = subprocess.Popen([CIRCUSD, str(ini)], cwd=self.tmp_path, env=child_env(),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.daemons.append(proc)
        # The socket file appears at bind(), a moment before listen(): wait
        # until a connection is accepted, not just for the file.
        wait_for(lambda: _listening(self.ipc / "ctl") or proc.poll() is not None, 15,
                 "circusd's control socket")
        assert proc.poll() is None, (self.tmp_path / "circusd.log").read_text()
        return proc

    def start_stats(self, *extra: str) -> subprocess.Popen[bytes]:
        """circusd-stats as a plain subprocess (it does not inherit circusd's sockets)."""
        with open(self.tmp_path / "stats.out", "ab") as out:
            argv = [sys.executable, "-m", "circus.stats", *self.stats_args(*extra)]
            proc = subprocess.Popen(argv, cwd=self.tmp_path, env=child_env(),
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.stats.append(proc)
        return proc

    def sub(self, prefix: bytes = b"stat.") -> StatsSub:
        sub = StatsSub(self.context, self.statspoint, prefix)
        self.subs.append(sub)
        return sub

    def call(self, command: str, **props: Any) -> Mapping[str, Any]:
        from circus.client import CircusClient

        with CircusClient(self.endpoint, timeout=10) as client:
            reply = client.call(command, **props)
        assert reply["status"] == "ok", reply
        return reply

    def remember_children(self) -> None:
        """Note every process below our daemons, to prove at teardown that none is left."""
        for proc in [*self.daemons, *self.stats]:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.descendants.update(psutil.Process(proc.pid).children(recursive=True))

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{proc.args!r} ignored SIGTERM") from None

    def close(self) -> None:
        for sub in self.subs:
            sub.close()
        self.context.term()
        self.remember_children()
        codes = [self.stop(p) for p in [*self.stats, *self.daemons]]
        leftovers = [p for p in self.descendants if p.is_running()
                     and p.status() != psutil.STATUS_ZOMBIE]
        for proc in leftovers:
            proc.kill()
        shutil.rmtree(self.ipc, ignore_errors=True)
        assert not leftovers, f"processes left behind: {leftovers}"
        assert all(code == 0 for code in codes), f"exit codes {codes}"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """A fresh :class:`Harness`; everything it started is stopped (and checked) at teardown."""
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.close()
