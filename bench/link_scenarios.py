"""A cut link between circusd and its clients on another host: time to notice, time to recover.

circusd runs in one network namespace; circusd-stats and circus-plugin (the
flapping plugin, ``--check-delay 0.5``) in another, joined by a veth pair
that this scenario makes and removes (it needs root and iproute2, as the
namespace tests do). The link is cut for :data:`CUT` seconds, ``rounds``
times. For each client, ``detect`` runs from the cut to its "lost contact"
log line and ``recover`` from the link's return to its "answers again" line;
the medians and the worst are reported. Our programs only: circus 0.19's
clients log no such lines.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scenarios import ScenarioError, workdir

LINK_CUT = "link-cut"
SCENARIOS = (LINK_CUT,)
CUT = 3.0
HOST_A, HOST_B = "169.254.81.1", "169.254.81.2"
ENDPOINT, PUBSUB = f"tcp://{HOST_A}:5555", f"tcp://{HOST_A}:5556"
CLIENTS = ("stats", "plugin")
BIN = Path(sys.executable).parent


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ScenarioError(f"ip {' '.join(args)}: {result.stderr.strip()} (needs root)")


@contextmanager
def _hosts() -> Iterator[tuple[str, str, str]]:
    """(namespace A, namespace B, A's veth), joined; removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    ns_a, ns_b, dev_a, dev_b = f"blka-{tag}", f"blkb-{tag}", f"ba{tag}", f"bb{tag}"
    _ip("netns", "add", ns_a)
    try:
        _ip("netns", "add", ns_b)
        try:
            _ip("link", "add", dev_a, "type", "veth", "peer", "name", dev_b)
            _ip("link", "set", dev_a, "netns", ns_a)
            _ip("link", "set", dev_b, "netns", ns_b)
            for ns, dev, addr in ((ns_a, dev_a, HOST_A), (ns_b, dev_b, HOST_B)):
                _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            yield ns_a, ns_b, dev_a
        finally:
            _ip("netns", "del", ns_b)
    finally:
        _ip("netns", "del", ns_a)


def _start(ns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out,
                                stderr=subprocess.STDOUT)


def _wait(predicate: Callable[[], bool], what: str, timeout: float) -> float:
    """When ``predicate`` first held (monotonic); ScenarioError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic()


def _count(path: Path, needle: str) -> int:
    return path.read_text(errors="replace").count(needle) if path.exists() else 0


def run_link_cut(rounds: int = 3) -> dict[str, Any]:
    """Cut the link ``rounds`` times; detect and recover times of each client, in seconds."""
    with workdir("ours link") as tmp, _hosts() as (ns_a, ns_b, dev_a):
        ini = tmp / "circus.ini"
        ini.write_text(f"[circus]\nendpoint = {ENDPOINT}\npubsub_endpoint = {PUBSUB}\n\n"
                       "[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 2\n")
        logs = {name: tmp / f"{name}.log" for name in CLIENTS}
        procs = [_start(ns_a, [str(BIN / "circusd"), str(ini)], tmp / "circusd.log")]
        try:
            procs.append(_start(ns_b, [
                str(BIN / "circusd-stats"), "--endpoint", ENDPOINT, "--pubsub", PUBSUB,
                "--statspoint", f"tcp://{HOST_B}:5557", "--log-output", str(logs["stats"])],
                tmp / "stats.out"))
            procs.append(_start(ns_b, [
                str(BIN / "circus-plugin"), "--endpoint", ENDPOINT, "--pubsub", PUBSUB,
                "--check-delay", "0.5", "--log-output", str(logs["plugin"]),
                "circus.plugins.flapping.Flapping"], tmp / "plugin.out"))
            _wait(lambda: _count(logs["stats"], "tracking 1 watchers") > 0,
                  "circusd-stats to sync", 30)
            # Both event connections up (the plugin says nothing until it loses one).
            time.sleep(2.0)
            detect: dict[str, list[float]] = {name: [] for name in CLIENTS}
            recover: dict[str, list[float]] = {name: [] for name in CLIENTS}
            for _ in range(rounds):
                lost = {name: _count(log, "lost contact with circusd")
                        for name, log in logs.items()}
                back = {name: _count(log, "answers again") for name, log in logs.items()}
                cut_at = time.monotonic()
                _ip("-n", ns_a, "link", "set", dev_a, "down")
                seen: dict[str, float] = {}
                while time.monotonic() < cut_at + CUT:  # the cut lasts CUT s, noticed or not
                    for name, log in logs.items():
                        if name not in seen and _count(log, "lost contact with circusd") > \
                                lost[name]:
                            seen[name] = time.monotonic()
                    time.sleep(0.01)
                up_at = time.monotonic()
                _ip("-n", ns_a, "link", "set", dev_a, "up")
                for name, log in logs.items():
                    at = seen.get(name) or _wait(
                        lambda log=log, n=lost[name]: _count(log, "lost contact with circusd")
                        > n, f"{name} to report the cut", 30)
                    detect[name].append(at - cut_at)
                for name, log in logs.items():
                    at = _wait(lambda log=log, n=back[name]: _count(log, "answers again") > n,
                               f"{name} to report the recovery", 30)
                    recover[name].append(at - up_at)
                time.sleep(1.0)  # settle before the next cut
            if any(proc.poll() is not None for proc in procs):
                raise ScenarioError("a program exited during the cuts")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    result: dict[str, Any] = {"rounds": rounds, "cut_s": CUT}
    for name in CLIENTS:
        result[f"{name}_detect_s"] = statistics.median(detect[name])
        result[f"{name}_recover_s"] = statistics.median(recover[name])
        result[f"{name}_recover_max_s"] = max(recover[name])
    return result
