"""circus.plugins: the plugin runtime, ``circus-plugin`` and the built-in plugins.

* :class:`CircusPlugin` — the base class (upstream's public surface);
* :func:`main` — the ``circus-plugin`` command (also ``plugins.main()``);
* :func:`parse_config` / :func:`encode_config` — the ``--config`` encoding;
* the exceptions, rooted at :class:`PluginError`.

The built-ins live at upstream's paths: ``circus.plugins.statsd.StatsdEmitter``,
``circus.plugins.statsd.FullStats``, ``circus.plugins.flapping.Flapping``,
``circus.plugins.watchdog.WatchDog``,
``circus.plugins.resource_watcher.ResourceWatcher``,
``circus.plugins.redis_observer.RedisObserver``,
``circus.plugins.http_observer.HttpObserver`` and
``circus.plugins.command_reloader.CommandReloader``; ours adds
``circus.plugins.notify.Webhook``.
"""

from __future__ import annotations

from circus.plugins._base import CircusPlugin, PluginCallTimeout
from circus.plugins._cli import main
from circus.plugins._options import (
    ConfigError,
    MissingDependency,
    PluginError,
    encode_config,
    parse_config,
)

__all__ = [
    "CircusPlugin",
    "ConfigError",
    "MissingDependency",
    "PluginCallTimeout",
    "PluginError",
    "encode_config",
    "main",
    "parse_config",
]
