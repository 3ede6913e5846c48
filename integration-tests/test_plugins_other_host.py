"""A plugin on another host: circusd in one network namespace, circus-plugin in another.

The two namespaces are joined by a veth pair with link-local addresses; both
are made and removed by the test (it runs as root, as CI does). The plugin
runs from a venv holding only circus-ctl and circus-plugins, over TCP
endpoints. Flapping works across the link; cutting the link is reported by
the plugin and recovering it is too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _circus_run import wait_for

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "build" / "wheels"
BIN = Path(sys.executable).parent
SERVER_IP, PLUGIN_IP = "169.254.77.1", "169.254.77.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str, str]]:
    """(server namespace, plugin namespace, the server side's veth name)."""
    tag = uuid.uuid4().hex[:6]
    server, plugin = f"cps-{tag}", f"cpp-{tag}"
    veth_server, veth_plugin = f"vs{tag}", f"vp{tag}"
    _ip("netns", "add", server)
    _ip("netns", "add", plugin)
    try:
        _ip("link", "add", veth_server, "type", "veth", "peer", "name", veth_plugin)
        _ip("link", "set", veth_server, "netns", server)
        _ip("link", "set", veth_plugin, "netns", plugin)
        for ns, dev, addr in ((server, veth_server, SERVER_IP), (plugin, veth_plugin, PLUGIN_IP)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield server, plugin, veth_server
    finally:
        _ip("netns", "del", server)  # takes the veth pair with it
        _ip("netns", "del", plugin)


@pytest.fixture(scope="module")
def plugins_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins-remote") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    wheels = [sorted(WHEELS.glob(f"{name}-*.whl")) for name in ("circus_ctl", "circus_plugins")]
    assert all(wheels), f"no wheels in {WHEELS}: run `make install` first"
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *(str(found[-1]) for found in wheels)],
        capture_output=True, text=True, env=_env(), timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return root


def _in(ns: str, argv: list[str], log: Path, env: dict[str, str] | None = None
        ) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out,
                                stderr=subprocess.STDOUT, env=env)


def _ask(ns: str, endpoint: str, command: str, **props: Any) -> dict[str, Any]:
    """One call to circusd from inside the server namespace (our circusctl's library)."""
    import json

    code = ("import json, sys; from circus.client import CircusClient; "
            "c = CircusClient(sys.argv[1], timeout=3); "
            "print(json.dumps(c.call(sys.argv[2], **json.loads(sys.argv[3]))))")
    result = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code, endpoint,
                             command, json.dumps(props)], capture_output=True, text=True,
                            check=False, timeout=20)
    return json.loads(result.stdout) if result.returncode == 0 else {"status": "unreachable"}


def test_flapping_across_the_link_and_a_cut_link(
        tmp_path: Path, namespaces: tuple[str, str, str], plugins_venv: Path) -> None:
    server_ns, plugin_ns, veth = namespaces
    endpoint, pubsub = f"tcp://{SERVER_IP}:5555", f"tcp://{SERVER_IP}:5556"
    (tmp_path / "crash.py").write_text("import sys, time; time.sleep(0.05); sys.exit(2)\n")
    ini = tmp_path / "circus.ini"
    ini.write_text(textwrap.dedent(f"""
        [circus]
        endpoint = {endpoint}
        pubsub_endpoint = {pubsub}

        [watcher:crasher]
        cmd = {sys.executable} {tmp_path}/crash.py
    """))
    daemon = _in(server_ns, [str(BIN / "circusd"), str(ini)], tmp_path / "circusd.log")
    plugin = None
    log = tmp_path / "plugin.log"
    try:
        wait_for(lambda: _ask(server_ns, endpoint, "numwatchers")["status"] == "ok",
                  "circusd in its namespace", timeout=30)
        plugin = _in(plugin_ns, [str(plugins_venv / "bin" / "circus-plugin"), "--endpoint",
                                 endpoint, "--pubsub", pubsub, "--check-delay", "0.5",
                                 "--log-output", str(log), "--config",
                                 "window:5:::retry_in:3:::max_retry:-1",
                                 "circus.plugins.flapping.Flapping"],
                     tmp_path / "plugin.out", env=_env())
        wait_for(lambda: log.exists() and "crasher: flapping detected" in log.read_text(),
                  "flapping across the link", timeout=30)
        wait_for(lambda: _ask(server_ns, endpoint, "status", name="crasher")["status"]
                  == "stopped", "crasher stopped by the remote plugin", timeout=30)
        _ip("-n", server_ns, "link", "set", veth, "down")
        wait_for(lambda: "lost contact with circusd at " + endpoint in log.read_text(),
                  "the cut link to be reported", timeout=30)
        _ip("-n", server_ns, "link", "set", veth, "up")
        wait_for(lambda: f"circusd at {endpoint} answers again" in log.read_text(),
                  "the link to recover", timeout=60)
        # Still working after the cut: the retried crasher flaps and is stopped again.
        seen = log.read_text().count("flapping detected")
        _ask(server_ns, endpoint, "start", name="crasher")
        wait_for(lambda: log.read_text().count("flapping detected") > seen,
                  "flapping after the link came back", timeout=60)
        assert plugin.poll() is None
    finally:
        for proc in (plugin, daemon):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
