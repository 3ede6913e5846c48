"""``[plugin:NAME]``: circusd runs each active plugin as the watcher ``plugin:NAME``.

The plugin runner (circus-plugins) really driving circusd is proven in
integration-tests; here the launch: upstream's command line, with the
plugin's keys kept out of its watcher's options and values with spaces intact.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from circus._daemon.from_config import build_arbiter
from circus._setup import plugins as _plugins
from circus.arbiter import Arbiter
from circus.config import parse_config_text
from circus.errors import ConfigError

ENDPOINT, PUBSUB = "ipc:///tmp/p-ctl", "ipc:///tmp/p-pub"


@pytest.fixture
def plugins_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugins, "plugins_installed", lambda: True)


def _arbiter(text: str, tmp_path: Path) -> Arbiter:
    config = parse_config_text(
        "[circus]\nendpoint = ipc:///tmp/p-ctl\npubsub_endpoint = ipc:///tmp/p-pub\n"
        "check_delay = 2.5\n" + text, tmp_path / "circus.ini")
    return build_arbiter(config)


def test_a_plugin_section_runs_as_a_singleton_watcher(plugins_available: None,
                                                      tmp_path: Path) -> None:
    arbiter = _arbiter("[plugin:flap]\nuse = circus.plugins.flapping.Flapping\n"
                       "max_retry = 3\nattempts = 2\nnote = two words\n", tmp_path)
    [watcher] = arbiter.watchers
    assert watcher.name == "plugin:flap"
    assert watcher.singleton and watcher.numprocesses == 1 and watcher.priority == 1
    assert watcher.copy_env and watcher.copy_path
    assert shlex.split(watcher.cmd) == [
        sys.executable, "-c", "from circus import plugins;plugins.main()",
        "--endpoint", "ipc:///tmp/p-ctl", "--pubsub", "ipc:///tmp/p-pub",
        "--check-delay", "2.5",
        "--config", "attempts:2:::max_retry:3:::name:plugin:flap:::note:two words",
        "--log-level", "info", "circus.plugins.flapping.Flapping",
    ]


def test_the_plugins_keys_are_not_options_of_its_watcher(plugins_available: None,
                                                          tmp_path: Path) -> None:
    # Upstream made max_retry an option of the watcher too (#951, #680).
    arbiter = _arbiter("[plugin:flap]\nuse = circus.plugins.flapping.Flapping\n"
                       "max_retry = 3\nretry_in = 9\ngraceful_timeout = 1\n", tmp_path)
    [watcher] = arbiter.watchers
    assert (watcher.max_retry, watcher.retry_in, watcher.graceful_timeout) == (5, 0.5, 30.0)


def test_priority_active_and_logging(plugins_available: None, tmp_path: Path) -> None:
    arbiter = Arbiter([], plugins=[
        {"name": "a", "use": "x.A", "priority": "7"},
        {"name": "off", "use": "x.Off", "active": "false"},
    ], loglevel="debug", logoutput="/var/log/circus.log", ssh_server="me@host:22",
       endpoint=ENDPOINT, pubsub_endpoint=PUBSUB)
    [watcher] = arbiter.watchers
    assert (watcher.name, watcher.priority) == ("plugin:a", 7)
    argv = shlex.split(watcher.cmd)
    assert argv[argv.index("--ssh") + 1] == "me@host:22"
    assert argv[argv.index("--log-level") + 1] == "debug"
    assert argv[argv.index("--log-output") + 1] == "/var/log/circus.log"
    assert argv[argv.index("--config") + 1] == "name:plugin:a:::priority:7"


@pytest.mark.parametrize(("section", "message"), [
    ({"name": "a", "use": "x.A", "priority": "high"},
     r"\[plugin:a\] priority: expected an integer"),
    ({"name": "a", "use": "x.A", "active": "maybe"}, r"\[plugin:a\] active: expected a boolean"),
])
def test_bad_watcher_keys_are_named(plugins_available: None, section: dict[str, str],
                                    message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Arbiter([], plugins=[section], endpoint=ENDPOINT, pubsub_endpoint=PUBSUB)


def test_without_circus_plugins_the_error_names_the_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugins, "plugins_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"\[plugin:a\] needs circus-plugin.*pip install "
                                          r"circus-plugins"):
        Arbiter([], plugins=[{"name": "a", "use": "x.A"}], endpoint=ENDPOINT,
                pubsub_endpoint=PUBSUB)


def test_a_plugin_needs_the_endpoints(plugins_available: None) -> None:
    with pytest.raises(ConfigError, match="needs both endpoint and pubsub_endpoint"):
        Arbiter([], plugins=[{"name": "a", "use": "x.A"}], endpoint=None)
