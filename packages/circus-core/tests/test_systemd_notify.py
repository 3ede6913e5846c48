"""circusd under systemd's ``Type=notify``: READY, STOPPING and WATCHDOG on a fake NOTIFY_SOCKET.

The test binds the datagram socket systemd would bind and reads what circusd
sends: ``READY=1`` once the highest priority watchers run (before the next
group, which a long ``warmup_delay`` holds back), ``STOPPING=1`` on SIGTERM,
``WATCHDOG=1`` every ``WATCHDOG_USEC``/2 when asked.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest
from circus._daemon.systemd import SystemdNotifier, socket_address, watchdog_interval
from conftest import poll

# Writes its environment's NOTIFY_SOCKET (or "-") to notify-<name>.env, then waits.
CHILD = """\
import os, sys, time
with open(f"notify-{sys.argv[1]}.env", "w") as handle:
    handle.write(os.environ.get("NOTIFY_SOCKET", "-"))
while True:
    time.sleep(0.2)
"""


class FakeSystemd:
    """A bound ``AF_UNIX`` datagram socket collecting the datagrams circusd sends."""

    def __init__(self, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"circus-test-notify-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
            self._dir = None
        else:
            self._dir = tempfile.mkdtemp(prefix="notify-", dir="/tmp")
            self.env_value = f"{self._dir}/notify.sock"
            self.sock.bind(self.env_value)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, list[str]]] = []

    def drain(self) -> list[tuple[float, list[str]]]:
        """Read every datagram available now; return all received so far."""
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return self.received
            self.received.append((time.monotonic(), data.decode().split("\n")))

    def states(self) -> list[str]:
        return [line for _, lines in self.drain() for line in lines]

    def close(self) -> None:
        self.sock.close()
        if self._dir is not None:
            os.unlink(self.env_value)
            os.rmdir(self._dir)


@pytest.fixture(params=[False, True], ids=["path", "abstract"])
def fake_systemd(request: pytest.FixtureRequest) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(abstract=request.param)
    yield fake
    fake.close()


def _config(circusd, warmup: float = 0) -> str:
    circusd.write("child.py", CHILD)
    return str(circusd.write("circus.ini", (
        f"[circus]\nwarmup_delay = {warmup}\n"
        f"[watcher:first]\ncmd = {sys.executable} child.py first\npriority = 5\n"
        "numprocesses = 2\n"
        f"[watcher:later]\ncmd = {sys.executable} child.py later\npriority = 1\n")))


def _children_named(pid: int, name: str) -> int:
    try:
        kids = psutil.Process(pid).children()
    except psutil.Error:
        return 0
    count = 0
    for kid in kids:
        with contextlib.suppress(psutil.Error):
            count += name in " ".join(kid.cmdline())
    return count


def test_ready_after_the_first_priority_group_then_stopping(circusd, fake_systemd):
    env = dict(os.environ, NOTIFY_SOCKET=fake_systemd.env_value)
    proc = circusd.start(_config(circusd, warmup=3), env=env)
    poll(lambda: "READY=1" in fake_systemd.states(), timeout=20)
    # What ran when READY=1 was sent: the whole first group, not yet the later one.
    assert _children_named(proc.pid, "child.py first") == 2
    assert _children_named(proc.pid, "child.py later") == 0
    assert "STATUS=running 2 watchers" in fake_systemd.states()
    proc.wait_children(3, timeout=20)
    poll(lambda: (circusd.tmp_path / "notify-later.env").exists())
    # Watchers never inherit the notify socket (they could speak for circusd).
    assert (circusd.tmp_path / "notify-first.env").read_text() == "-"
    assert (circusd.tmp_path / "notify-later.env").read_text() == "-"
    assert "STOPPING=1" not in fake_systemd.states()
    assert proc.stop() == 0
    states = fake_systemd.states()
    assert states.count("READY=1") == 1
    assert states.count("STOPPING=1") == 1
    assert states.index("STOPPING=1") > states.index("READY=1")
    assert "WATCHDOG=1" not in states  # not asked for
    assert "Traceback" not in proc.stderr()


def test_watchdog_pings_every_half_watchdog_usec(circusd, fake_systemd):
    env = dict(os.environ, NOTIFY_SOCKET=fake_systemd.env_value, WATCHDOG_USEC="400000")
    proc = circusd.start(_config(circusd), env=env)
    poll(lambda: fake_systemd.states().count("WATCHDOG=1") >= 6, timeout=20)
    stamps = [at for at, lines in fake_systemd.drain() if lines == ["WATCHDOG=1"]]
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]
    # 0.2 s apart, give or take a busy machine; never as late as WatchdogSec itself.
    assert all(0.1 < gap < 0.4 for gap in gaps), gaps
    assert proc.stop() == 0


def test_no_watchdog_when_watchdog_pid_names_another_process(circusd, fake_systemd):
    env = dict(os.environ, NOTIFY_SOCKET=fake_systemd.env_value, WATCHDOG_USEC="100000",
               WATCHDOG_PID="1")
    proc = circusd.start(_config(circusd), env=env)
    poll(lambda: "READY=1" in fake_systemd.states(), timeout=20)
    proc.wait_children(3, timeout=20)
    assert proc.stop() == 0
    states = fake_systemd.states()
    assert "STOPPING=1" in states
    assert "WATCHDOG=1" not in states


def test_a_malformed_notify_variable_is_one_line_error(circusd):
    circusd.write("child.py", CHILD)
    env = dict(os.environ, NOTIFY_SOCKET="relative/path")
    result = circusd.run(_config(circusd), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "circusd: error: systemd: NOTIFY_SOCKET='relative/path': expected an absolute path "
        "or an @abstract name"]


def test_a_vanished_notify_socket_is_logged_once_and_circusd_runs_on(circusd):
    missing = f"/tmp/notify-missing-{uuid.uuid4().hex}.sock"
    env = dict(os.environ, NOTIFY_SOCKET=missing, WATCHDOG_USEC="100000")
    proc = circusd.start(_config(circusd), env=env)
    proc.wait_children(3, timeout=20)
    poll(lambda: f"NOTIFY_SOCKET {missing}: cannot send" in proc.stdout(), timeout=10)
    time.sleep(0.3)  # several watchdog periods: still one warning
    assert proc.stdout().count("cannot send") == 1
    assert proc.stop() == 0


# -- the pieces -------------------------------------------------------------


def test_addresses():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract/name") == "\0abstract/name"
    for bad in ("", "@", "run/notify"):
        with pytest.raises(ValueError, match="NOTIFY_SOCKET"):
            socket_address(bad)


def test_watchdog_interval():
    assert watchdog_interval(None, None, 10) is None
    assert watchdog_interval("30000000", None, 10) == 15.0
    assert watchdog_interval("30000000", "10", 10) == 15.0
    assert watchdog_interval("30000000", "11", 10) is None
    with pytest.raises(ValueError, match="WATCHDOG_USEC='0'"):
        watchdog_interval("0", None, 10)
    with pytest.raises(ValueError, match="WATCHDOG_PID='x'"):
        watchdog_interval("10", "x", 10)


def test_from_environ_takes_the_variables_out():
    env = {"NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7", "HOME": "/"}
    notifier = SystemdNotifier.from_environ(env, pid=7)
    assert notifier is not None
    assert (notifier.address, notifier.watchdog) == ("\0n", 1.0)
    assert repr(notifier) == "<SystemdNotifier @n watchdog=1.0>"
    assert env == {"HOME": "/"}
    assert SystemdNotifier.from_environ({"WATCHDOG_USEC": "5"}) is None


def test_send_never_blocks_on_a_full_queue():
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"\0circus-test-full-{uuid.uuid4().hex}"
    receiver.bind(name)
    notifier = SystemdNotifier(name)
    try:
        # Nobody reads: the kernel queue fills, then sends fail at once (EAGAIN).
        results = [notifier.send("WATCHDOG=1") for _ in range(2000)]
        assert results[0] is True
        assert results[-1] is False
    finally:
        notifier.close()
        receiver.close()


def test_sigterm_between_two_groups_sends_stopping(circusd, fake_systemd):
    """SIGTERM while the later group waits out its warmup: STOPPING=1 and exit 0."""
    env = dict(os.environ, NOTIFY_SOCKET=fake_systemd.env_value)
    proc = circusd.start(_config(circusd, warmup=30), env=env)
    poll(lambda: "READY=1" in fake_systemd.states(), timeout=20)
    proc.wait_children(2, timeout=20)  # the later group waits out its warmup
    assert proc.stop(signal.SIGTERM) == 0
    assert "STOPPING=1" in fake_systemd.states()
