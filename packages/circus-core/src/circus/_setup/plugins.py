"""``[plugin:NAME]`` sections as watchers of circusd.

Plugins ship in the separate circus-plugins package and talk to circusd only
over its endpoints. circusd runs each active plugin as one more watcher,
``plugin:NAME``, with upstream's command line, so upstream's plugins run under
our circusd and ours under upstream's. Two upstream defects are not copied:
the plugin's own keys (``max_retry``, ``check_delay``...) never become options
of its watcher, and the ``--config`` value is quoted, so a value with spaces
reaches the plugin whole.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from typing import Protocol

from circus._base.parsers import parse_bool, parse_int
from circus._setup.launch import LaunchHost, curve_args, log_args, package_installed, ssh_args
from circus.errors import ConfigError
from circus.watcher import Watcher

PLUGIN_PREFIX = "plugin:"
_LAUNCH = "from circus import plugins;plugins.main()"
# Keys of a [plugin:NAME] section that shape its watcher or its launch;
# every other key is the plugin's own and goes to it through --config.
_NOT_FORWARDED = ("use", "active", "name")
_DEFAULT_PRIORITY = 1


class PluginHost(LaunchHost, Protocol):
    """What launching a plugin needs of the arbiter (a :class:`~circus.arbiter.Arbiter`)."""

    @property
    def pubsub_endpoint(self) -> str | None:
        """The event endpoint."""
        ...

    @property
    def check_delay(self) -> float:
        """circusd's check_delay, handed to the plugin."""
        ...


def plugins_installed() -> bool:
    """True if the circus-plugins package (``circus.plugins``) can be imported."""
    return package_installed("circus.plugins")


def watcher_name(section: Mapping[str, object]) -> str:
    """The watcher that runs the plugin of ``section``: ``plugin:NAME``, as upstream."""
    return PLUGIN_PREFIX + str(section["name"])


def is_active(section: Mapping[str, object]) -> bool:
    """False when the section says ``active = false``: no watcher is made for it.

    Raises:
        ConfigError: ``active`` is not a boolean.
    """
    try:
        return parse_bool(section.get("active", True))
    except ValueError as exc:
        raise ConfigError(f"[plugin:{section['name']}] active: {exc}") from None


def config_argument(section: Mapping[str, object]) -> str:
    """The ``--config`` value: the plugin's keys as ``key:value`` joined by ``:::``.

    Sorted by key, with ``name`` set to the watcher's name, as upstream sends it.
    """
    items = {key: str(value) for key, value in section.items() if key not in _NOT_FORWARDED}
    items["name"] = watcher_name(section)
    return ":::".join(f"{key}:{items[key]}" for key in sorted(items))


def plugin_command(arbiter: PluginHost, section: Mapping[str, object]) -> str:
    """The command line of the plugin of ``section``, for ``arbiter``'s endpoints."""
    argv = [sys.executable, "-c", _LAUNCH,
            "--endpoint", str(arbiter.endpoint),
            "--pubsub", str(arbiter.pubsub_endpoint),
            # Upstream dropped circusd's check_delay; the plugin gets it here.
            "--check-delay", str(arbiter.check_delay)]
    argv += ssh_args(arbiter) + curve_args(arbiter)
    argv += ["--config", config_argument(section)]
    argv += log_args(arbiter)
    argv.append(str(section["use"]))
    return shlex.join(argv)


def _priority(section: Mapping[str, object]) -> int:
    try:
        return parse_int(section.get("priority", _DEFAULT_PRIORITY))
    except ValueError as exc:
        raise ConfigError(f"[plugin:{section['name']}] priority: {exc}") from None


def plugin_watcher(arbiter: PluginHost, section: Mapping[str, object]) -> Watcher:
    """The singleton watcher ``plugin:NAME`` that runs the plugin of ``section``.

    Raises:
        ConfigError: circus-plugins is not installed, circusd has no control
            or event endpoint for the plugin to talk to, or ``priority`` is
            not an integer.
    """
    if not plugins_installed():
        raise ConfigError(
            f"[plugin:{section['name']}] needs circus-plugin, from the circus-plugins "
            "package, which is not installed: pip install circus-plugins"
        )
    if not arbiter.endpoint or not arbiter.pubsub_endpoint:
        raise ConfigError(f"[plugin:{section['name']}] needs both endpoint and "
                          "pubsub_endpoint to be set")
    return Watcher(
        watcher_name(section),
        plugin_command(arbiter, section),
        singleton=True,
        priority=_priority(section),
        copy_env=True,
        copy_path=True,
    )
