"""The public names: circus.plugins.__all__ and every built-in at upstream's import path."""

from __future__ import annotations

import importlib
import subprocess

import circus.plugins
import pytest
from _peers import PYTHON
from circus.plugins import CircusPlugin

BUILTINS = {
    "circus.plugins.statsd.StatsdEmitter": "statsd",
    "circus.plugins.statsd.FullStats": "full_stats",
    "circus.plugins.redis_observer.RedisObserver": "redis_observer",
    "circus.plugins.http_observer.HttpObserver": "http_observer",
    "circus.plugins.resource_watcher.ResourceWatcher": "resource_watcher",
    "circus.plugins.watchdog.WatchDog": "watchdog",
    "circus.plugins.flapping.Flapping": "flapping",
    "circus.plugins.command_reloader.CommandReloader": "command_reloader",
    "circus.plugins.notify.Webhook": "webhook",
}


def test_all_is_sorted_and_complete() -> None:
    names = circus.plugins.__all__
    assert names == sorted(names)
    for name in names:
        value = getattr(circus.plugins, name)
        assert value.__doc__, f"{name} has no docstring"


@pytest.mark.parametrize(("path", "name"), sorted(BUILTINS.items()))
def test_builtins_live_at_upstreams_paths(path: str, name: str) -> None:
    module, _, attr = path.rpartition(".")
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, CircusPlugin)
    assert cls.name == name
    assert cls.__doc__


def test_circusd_command_line_form_runs_main() -> None:
    """circusd starts plugins with `python -c 'from circus import plugins;plugins.main()' ...`."""
    result = subprocess.run([PYTHON, "-c", "from circus import plugins;plugins.main()",
                             "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "0.1.0", result.stderr
