"""Scale-out over a real link: circusd on host A, its clients on host B.

Host A and host B are network namespaces joined by a veth pair (made and
removed by the test, as root). Host A runs papa and circusd, whose
watcher lives in papa (``use_papa``). Host B runs
circusd-stats, circus-top, circus-plugin (flapping) and circushttpd, each
from a venv of its own holding only the packages it needs, over tcp
endpoints with CURVE on. This is the topology of docker-compose.yml, keys
and roles included: each client has a key pair of its own, named for its
role (the plugin and the console are operators, circusd-stats a reader), and
circusd-stats serves the stats channel with its own key to circus-top and
the console.

The link then fails: it is cut for 3 s (``ip link set down``) and later
slowed by 200 ms each way (``tc netem``). Each client that crosses the link
reports the cut in one line, keeps running and reports the recovery within
5 s of the link coming back; nothing on host A notices. The times to detect
and to recover are printed (and are what ``make bench`` reports).

Namespaces separate the network only: host B shares host A's process ids, so
circusd-stats can read the processes' /proc as it does when it runs next to
circusd in its own container (``pid: service:papa`` in the compose file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _circus_run import children_of, wait_for
from _netns import (
    Link,
    ask,
    clean_env,
    installed,
    linked_namespaces,
    make_venv,
    start_in,
    stop,
)
from _pty_screen import PtyScreen
from circus.client import write_key_pair

BIN = Path(sys.executable).parent
HOST_A, HOST_B = "169.254.79.1", "169.254.79.2"
ENDPOINT, PUBSUB = f"tcp://{HOST_A}:5555", f"tcp://{HOST_A}:5556"
STATSPOINT = f"tcp://{HOST_B}:5557"
WEB_PORT = 8090
CUT = 3.0  # seconds the link stays down
RECOVER_WITHIN = 5.0  # seconds after the link is back
# What each venv holds: only what the program needs.
VENVS = {"stats": ("circus_ctl", "circus_stats"), "top": ("circus_ctl", "circus_stats"),
         "plugin": ("circus_ctl", "circus_plugins"), "web": ("circus_ctl", "circus_web")}


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("host-b")
    return {name: make_venv(root / name, *dists) for name, dists in VENVS.items()}


@pytest.fixture
def link() -> Iterator[Link]:
    with linked_namespaces("cso", HOST_A, HOST_B) as made:
        yield made


@dataclass(frozen=True)
class Keys:
    """The key files of every party, as ``circusctl keygen`` writes them."""

    root: Path

    def public(self, name: str) -> str:
        return str(self.root / f"{name}.key")

    def secret(self, name: str) -> str:
        return str(self.root / f"{name}.key_secret")

    def client(self, server: str, name: str) -> list[str]:
        """The command-line options of a client ``name`` of ``server``."""
        return ["--curve-server-key", self.public(server), "--curve-key", self.secret(name)]

    def ask(self, name: str = "test.admin") -> tuple[str, str]:
        return self.public("circusd"), self.secret(name)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """circusd's key pair, circusd-stats' and each client's; the authorized directories."""
    root = tmp_path / "keys"
    for name in ("circusd", "stats.reader", "plugin.operator", "web.operator", "test.admin",
                 "top"):
        write_key_pair(str(root), name)
    for directory, names in (("circusd-clients", ("stats.reader", "plugin.operator",
                                                  "web.operator", "test.admin")),
                             ("stats-clients", ("top", "web.operator"))):
        (root / directory).mkdir()
        for name in names:
            (root / directory / f"{name}.key").write_bytes((root / f"{name}.key").read_bytes())
    return Keys(root)


@dataclass
class Log:
    """A client's log file, read as it grows."""

    path: Path

    def text(self) -> str:
        return self.path.read_text(errors="replace") if self.path.exists() else ""

    def count(self, needle: str) -> int:
        return self.text().count(needle)


def _web_state(ns: str) -> dict[str, Any]:
    """circushttpd's /api/state, fetched from inside host B (it listens on B's loopback)."""
    code = ("import sys, urllib.request; "
            f"print(urllib.request.urlopen('http://127.0.0.1:{WEB_PORT}/api/state', "
            "timeout=3).read().decode())")
    result = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                            capture_output=True, text=True, check=False, timeout=20)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def _web_node(ns: str) -> dict[str, Any]:
    nodes = _web_state(ns).get("nodes", [])
    return nodes[0] if nodes else {}


def _until(events: dict[str, Callable[[], bool]], timeout: float) -> dict[str, float]:
    """Poll every predicate until each held once; when each first held (monotonic)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(events):
        for name, predicate in events.items():
            if name not in seen and predicate():
                seen[name] = time.monotonic()
        if time.monotonic() > deadline:
            missing = sorted(set(events) - set(seen))
            raise AssertionError(f"timed out after {timeout} s waiting for {missing}")
        time.sleep(0.02)
    return seen


def _more(log: Log, needle: str, than: int) -> Callable[[], bool]:
    """A predicate: ``log`` holds ``needle`` more than ``than`` times."""
    return lambda: log.count(needle) > than


def _config(tmp_path: Path, keys: Keys, papa: Path | None = None) -> Path:
    ini = tmp_path / "circus.ini"
    ini.write_text(textwrap.dedent(f"""
        [circus]
        endpoint = {ENDPOINT}
        pubsub_endpoint = {PUBSUB}
        curve_secret_key = {keys.secret("circusd")}
        curve_authorized_keys = {keys.root / "circusd-clients"}
        {f"papa_endpoint = ipc://{papa}" if papa else ""}

        [watcher:sleeper]
        cmd = {sys.executable} -c "import time; [time.sleep(1) for _ in iter(int, 1)]"
        numprocesses = 2
        use_papa = {papa is not None}
    """))
    return ini


def _start_papa(ns: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """papa on host A, on a unix socket of its own; returns it and its socket's path."""
    path = Path(tempfile.mkdtemp(prefix="papa-", dir="/tmp")) / "papa.sock"
    papa = start_in(ns, [str(BIN / "papa"), "--unix-socket", str(path)], tmp_path / "papa.log")
    wait_for(path.exists, "papa listening", timeout=30)
    return papa, path


def test_clients_on_host_b_ride_out_a_cut_and_a_slow_link(
        tmp_path: Path, link: Link, venvs: dict[str, Path], keys: Keys) -> None:
    for name, dists in VENVS.items():
        assert installed(venvs[name]) == {d.replace("_", "-") for d in dists}, name
    env = clean_env()
    papa, papa_socket = _start_papa(link.ns_a, tmp_path)
    daemon = start_in(link.ns_a, [str(BIN / "circusd"),
                                  str(_config(tmp_path, keys, papa_socket))],
                      tmp_path / "circusd.log")
    admin = keys.ask()
    procs: list[subprocess.Popen[bytes]] = [papa, daemon]
    top: PtyScreen | None = None
    stats, plugin, web = (Log(tmp_path / f"{name}.log") for name in ("stats", "plugin", "web"))
    try:
        wait_for(lambda: ask(link.ns_a, ENDPOINT, "numwatchers", admin)["status"] == "ok",
                 "circusd on host A", timeout=30)
        pids = sorted(ask(link.ns_a, ENDPOINT, "list", admin, name="sleeper")["pids"])
        assert set(pids) <= set(children_of(papa.pid))  # papa holds them, not circusd
        # Without a key nothing answers, from host B as from host A.
        assert ask(link.ns_b, ENDPOINT, "list")["status"] == "unreachable"
        procs.append(start_in(link.ns_b, [
            str(venvs["stats"] / "bin" / "circusd-stats"), "--endpoint", ENDPOINT,
            "--pubsub", PUBSUB, "--statspoint", STATSPOINT, "--log-output", str(stats.path),
            *keys.client("circusd", "stats.reader"),
            "--curve-authorized-keys", str(keys.root / "stats-clients")],
            tmp_path / "stats.out", env=env))
        procs.append(start_in(link.ns_b, [
            str(venvs["plugin"] / "bin" / "circus-plugin"), "--endpoint", ENDPOINT,
            "--pubsub", PUBSUB, "--check-delay", "0.5", "--log-output", str(plugin.path),
            *keys.client("circusd", "plugin.operator"), "circus.plugins.flapping.Flapping"],
            tmp_path / "plugin.out", env=env))
        procs.append(start_in(link.ns_b, [
            str(venvs["web"] / "bin" / "circushttpd"), "--endpoint",
            f"{ENDPOINT},stats={STATSPOINT},stats_key={keys.public('stats.reader')}",
            "--host", "127.0.0.1", "--port", str(WEB_PORT), "--poll-interval", "0.5",
            "--log-output", str(web.path), *keys.client("circusd", "web.operator")],
            tmp_path / "web.out", env=env))
        top = PtyScreen(["ip", "netns", "exec", link.ns_b, str(venvs["top"] / "bin" / "circus-top"),
                         "--endpoint", STATSPOINT, *keys.client("stats.reader", "top")], env=env)

        # Everything works across the link.
        wait_for(lambda: "tracking 1 watchers" in stats.text(), "circusd-stats synced", 30)
        wait_for(lambda: _web_node(link.ns_b).get("state") == "up", "the console's node up", 30)
        wait_for(lambda: sorted(_web_node(link.ns_b).get("watchers", {}).get(
            "sleeper", {}).get("pids", [])) == pids, "the console listing the pids", 30)
        top.wait_for(lambda screen: all(str(pid) in screen for pid in pids),
                     "circus-top showing both sleepers", timeout=30)

        # 1. The cable is pulled for CUT seconds.
        before = {"stats": stats.count("answers again"), "plugin": plugin.count("answers again"),
                  "web": web.count("answers again")}
        cut_at = time.monotonic()
        link.set_up(False)
        lost: dict[str, Callable[[], bool]] = {
            "stats": lambda: f"lost contact with circusd at {ENDPOINT}" in stats.text(),
            "plugin": lambda: f"lost contact with circusd at {ENDPOINT}" in plugin.text(),
            "web": lambda: f"circusd {ENDPOINT}:" in web.text(),
        }
        detected: dict[str, float] = {}
        while time.monotonic() < cut_at + CUT:
            for name, predicate in lost.items():
                if name not in detected and predicate():
                    detected[name] = time.monotonic()
            time.sleep(0.02)
        up_at = time.monotonic()
        link.set_up(True)
        detected.update(_until({k: v for k, v in lost.items() if k not in detected}, 30))
        back = _until({name: _more(log, "answers again", before[name])
                       for name, log in (("stats", stats), ("plugin", plugin), ("web", web))},
                      30)
        timings = {name: (detected[name] - cut_at, back[name] - up_at) for name in back}
        print(f"\nlink cut of {CUT:.0f} s: " + ", ".join(
            f"{name} detected after {d:.2f} s, recovered {r:.2f} s after the link came back"
            for name, (d, r) in sorted(timings.items())))
        for name, (_, recovered) in timings.items():
            assert recovered < RECOVER_WITHIN, (name, timings)
        # One line per outage, each client still running.
        assert stats.count("lost contact with circusd") == 1
        assert plugin.count("lost contact with circusd") == 1
        assert web.count(f"circusd {ENDPOINT}:") == 1
        assert all(proc.poll() is None for proc in procs)
        assert top.process.poll() is None
        # circus-top's own link (to circusd-stats, on host B) was never cut.
        assert "waiting for circusd-stats" not in top.text()

        # 2. 200 ms of delay each way: slower, but nothing is lost or reported.
        if link.delay(200):
            try:
                assert ask(link.ns_b, ENDPOINT, "incr", admin, name="sleeper")["status"] == "ok"
                wait_for(lambda: len(_web_node(link.ns_b).get("watchers", {}).get(
                    "sleeper", {}).get("pids", [])) == 3, "the console seeing 3 sleepers", 30)
                grown = sorted(ask(link.ns_a, ENDPOINT, "list", admin, name="sleeper")["pids"])
                top.wait_for(lambda screen: all(str(pid) in screen for pid in grown),
                             "circus-top showing the third sleeper", timeout=30)
                assert stats.count("lost contact") == plugin.count("lost contact") == 1
                assert web.count(f"circusd {ENDPOINT}:") == 1
            finally:
                link.delay(None)
            pids = grown

        # Host A never noticed: same papa and circusd, same processes, no restart.
        assert papa.poll() is None and daemon.poll() is None
        assert sorted(ask(link.ns_a, ENDPOINT, "list", admin, name="sleeper")["pids"]) == pids
        assert "adopted" not in (tmp_path / "circusd.log").read_text()
        assert "Traceback" not in "".join(log.text() for log in (stats, plugin, web))
    finally:
        if top is not None:
            top.close()
        # papa's processes outlive a quitting circusd: stop them first.
        ask(link.ns_a, ENDPOINT, "stop", admin, name="sleeper")
        stop(*reversed(procs))
        shutil.rmtree(papa_socket.parent, ignore_errors=True)


def test_multicast_discovery_finds_circusd_on_the_other_host(
        tmp_path: Path, link: Link, venvs: dict[str, Path], keys: Keys) -> None:
    link.multicast_route()
    group = "udp://239.255.79.1:12027"
    ini = _config(tmp_path, keys)
    ini.write_text(ini.read_text().replace("[circus]\n",
                                           f"[circus]\nmulticast_endpoint = {group}\n"))
    daemon = start_in(link.ns_a, [str(BIN / "circusd"), str(ini)], tmp_path / "circusd.log")
    web = Log(tmp_path / "web.log")
    quiet = Log(tmp_path / "quiet.log")
    consoles: list[subprocess.Popen[bytes]] = []
    try:
        wait_for(lambda: ask(link.ns_a, ENDPOINT, "numwatchers", keys.ask())["status"] == "ok",
                 "circusd on host A", timeout=30)
        argv = [str(venvs["web"] / "bin" / "circushttpd"), "--host", "127.0.0.1",
                "--poll-interval", "0.5", *keys.client("circusd", "web.operator")]
        consoles.append(start_in(link.ns_b, [*argv, "--port", str(WEB_PORT), "--multicast",
                                             group, "--log-output", str(web.path)],
                                 tmp_path / "web.out", env=clean_env()))
        wait_for(lambda: f"multicast {group}: found {ENDPOINT}" in web.text(),
                 "discovery across the link", timeout=30)
        wait_for(lambda: _web_node(link.ns_b).get("endpoint") == ENDPOINT
                 and _web_node(link.ns_b).get("state") == "up", "the found node up", 30)
        # Off by default: without --multicast nothing is sent, only the default endpoint used.
        consoles.append(start_in(link.ns_b, [*argv, "--port", str(WEB_PORT + 1),
                                             "--log-output", str(quiet.path)],
                                 tmp_path / "quiet.out", env=clean_env()))
        wait_for(lambda: "serving" in quiet.text(), "the second console", timeout=30)
        assert "multicast" not in quiet.text()
        assert "tcp://127.0.0.1:5555" in quiet.text()
    finally:
        stop(*consoles, daemon)
