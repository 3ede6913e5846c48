"""A plugin on another host: circusd in one network namespace, circus-plugin in another.

The two namespaces are joined by a veth pair with link-local addresses; both
are made and removed by the test (it runs as root, as CI does). The plugin
runs from a venv holding only circus-ctl and circus-plugins, over TCP
endpoints. Flapping works across the link; cutting the link is reported by
the plugin and recovering it is too.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from _circus_run import wait_for
from _netns import Link, ask, clean_env, linked_namespaces, make_venv, start_in, stop

BIN = Path(sys.executable).parent
SERVER_IP, PLUGIN_IP = "169.254.77.1", "169.254.77.2"


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str, Link]]:
    """(server namespace, plugin namespace, the link between them)."""
    with linked_namespaces("cp", SERVER_IP, PLUGIN_IP) as link:
        yield link.ns_a, link.ns_b, link


@pytest.fixture(scope="module")
def plugins_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins-remote") / "venv"
    return make_venv(root, "circus_ctl", "circus_plugins")


def test_flapping_across_the_link_and_a_cut_link(
        tmp_path: Path, namespaces: tuple[str, str, Link], plugins_venv: Path) -> None:
    server_ns, plugin_ns, link = namespaces
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
    daemon = start_in(server_ns, [str(BIN / "circusd"), str(ini)], tmp_path / "circusd.log")
    plugin = None
    log = tmp_path / "plugin.log"
    try:
        wait_for(lambda: ask(server_ns, endpoint, "numwatchers")["status"] == "ok",
                  "circusd in its namespace", timeout=30)
        plugin = start_in(plugin_ns, [str(plugins_venv / "bin" / "circus-plugin"),
                                      "--endpoint", endpoint, "--pubsub", pubsub,
                                      "--check-delay", "0.5", "--log-output", str(log),
                                      "--config", "window:5:::retry_in:3:::max_retry:-1",
                                      "circus.plugins.flapping.Flapping"],
                          tmp_path / "plugin.out", env=clean_env())
        wait_for(lambda: log.exists() and "crasher: flapping detected" in log.read_text(),
                  "flapping across the link", timeout=30)
        wait_for(lambda: ask(server_ns, endpoint, "status", name="crasher")["status"]
                  == "stopped", "crasher stopped by the remote plugin", timeout=30)
        link.set_up(False)
        wait_for(lambda: "lost contact with circusd at " + endpoint in log.read_text(),
                  "the cut link to be reported", timeout=30)
        link.set_up(True)
        wait_for(lambda: f"circusd at {endpoint} answers again" in log.read_text(),
                  "the link to recover", timeout=60)
        # Still working after the cut: the retried crasher flaps and is stopped again.
        seen = log.read_text().count("flapping detected")
        ask(server_ns, endpoint, "start", name="crasher")
        wait_for(lambda: log.read_text().count("flapping detected") > seen,
                  "flapping after the link came back", timeout=60)
        assert plugin.poll() is None
    finally:
        stop(plugin, daemon)
