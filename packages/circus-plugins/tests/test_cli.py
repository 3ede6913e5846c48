"""circus-plugin's command line: upstream's options, one-line errors, exit statuses."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from _peers import BIN

BUILTINS = [
    "circus.plugins.statsd.StatsdEmitter",
    "circus.plugins.statsd.FullStats",
    "circus.plugins.redis_observer.RedisObserver",
    "circus.plugins.http_observer.HttpObserver",
    "circus.plugins.resource_watcher.ResourceWatcher",
    "circus.plugins.watchdog.WatchDog",
    "circus.plugins.flapping.Flapping",
    "circus.plugins.command_reloader.CommandReloader",
]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "circus-plugin"), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_upstreams_options() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in ("--endpoint", "--pubsub", "--config", "--check-delay", "--log-level",
                   "--log-output", "--ssh", "--version"):
        assert option in result.stdout


def test_version_and_no_plugin() -> None:
    assert run("--version").stdout.strip() == "0.1.0"
    bare = run()
    assert bare.returncode == 0 and bare.stdout.startswith("usage: circus-plugin")


@pytest.mark.parametrize(("args", "message"), [
    (["Flapping"], "plugin 'Flapping' is not a dotted class name"),
    (["no_such_module.Plugin"],
     "cannot import module 'no_such_module' for plugin 'no_such_module.Plugin': "
     "ModuleNotFoundError"),
    (["circus.plugins.flapping.Nope"], "module 'circus.plugins.flapping' has no attribute 'Nope'"),
    (["json.JSONDecoder"], "'json.JSONDecoder' is not a subclass of circus.plugins.CircusPlugin"),
    (["--config", "attempts", "circus.plugins.flapping.Flapping"],
     "--config: item 'attempts' is not key:value"),
    (["--config", ":5", "circus.plugins.flapping.Flapping"],
     "--config: item ':5' has an empty key"),
    (["--config", "attempts:two", "circus.plugins.flapping.Flapping"],
     "plugin flapping: option 'attempts' expects an integer, got 'two'"),
    (["--config", "name:plugin:wd:::msg_regex:^(?P<x>.*)$", "circus.plugins.watchdog.WatchDog"],
     "plugin plugin:wd: option 'msg_regex' expects a regular expression with the group(s) "
     "(?P<pid>...)"),
    (["--config", "active:maybe", "circus.plugins.flapping.Flapping"],
     "option 'active' expects true or false, got 'maybe'"),
    (["circus.plugins.resource_watcher.ResourceWatcher"],
     "plugin resource_watcher: option 'watcher' is required"),
    (["--config", "watcher:w:::max_mem:lots", "circus.plugins.resource_watcher.ResourceWatcher"],
     "option 'max_mem' expects a percentage (50) or a size with a unit (250M), got 'lots'"),
    (["--log-level", "loud", "circus.plugins.flapping.Flapping"], "--log-level 'loud'"),
    (["--log-output", "/nonexistent/dir/x.log", "circus.plugins.flapping.Flapping"],
     "--log-output '/nonexistent/dir/x.log'"),
    (["--curve-key", "a.key_secret", "circus.plugins.flapping.Flapping"],
     "CURVE needs both --curve-server-key and --curve-key; --curve-server-key is missing"),
    (["--curve-server-key", "/nonexistent/c.key", "--curve-key", "/nonexistent/a.key_secret",
      "circus.plugins.flapping.Flapping"],
     "CURVE key file /nonexistent/c.key: cannot read it"),
])
def test_bad_input_is_one_line_and_exit_1(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("circus-plugin: ")
    assert message in errors[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_handle_init_failure_is_loud(tmp_path: Path) -> None:
    """#1006: upstream's plugins failed silently; ours name the failure and exit 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run("--endpoint", f"ipc://{tmp_path}/none.sock", "--pubsub",
                     f"ipc://{tmp_path}/none-pub.sock", "--config", f"port:{port}",
                     "circus.plugins.watchdog.WatchDog")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"circus-plugin: plugin watchdog: cannot bind the heartbeat socket on 127.0.0.1:{port}: "
        "Address already in use")


@pytest.mark.parametrize("cls", BUILTINS)
def test_active_false_is_honoured_by_every_builtin(cls: str, tmp_path: Path) -> None:
    """Upstream's statsd-based plugins and WatchDog dropped their config, ignoring active."""
    result = run("--endpoint", f"ipc://{tmp_path}/c.sock", "--pubsub", f"ipc://{tmp_path}/p.sock",
                 "--config", "active:false:::watcher:w", cls, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "is inactive (active = false): not starting" in result.stdout
    assert "Starting" not in result.stdout
