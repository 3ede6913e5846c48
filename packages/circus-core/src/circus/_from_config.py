"""Turning a loaded :class:`~circus.config.CircusConfig` into an Arbiter."""

from __future__ import annotations

import logging
import os
from typing import Any

from circus import _hooks, _statsd
from circus.arbiter import Arbiter
from circus.config import CircusConfig
from circus.errors import ConfigError
from circus.watcher import Watcher

logger = logging.getLogger("circus")

# [circus] options handed to the Arbiter constructor under the same name.
_ARBITER_KEYS = (
    "endpoint", "pubsub_endpoint", "check_delay", "statsd", "stats_endpoint",
    "statsd_close_outputs", "multicast_endpoint", "warmup_delay", "httpd", "httpd_host",
    "httpd_port", "httpd_close_outputs", "debug", "debug_gc", "ssh_server", "pidfile",
    "loglevel", "logoutput", "loggerconfig", "fqdn_prefix", "umask", "endpoint_owner",
    "papa_endpoint", "prometheus",
)


def build_watcher(options: dict[str, Any], source: str) -> Watcher:
    """Create one watcher from its config mapping; errors name the section."""
    kwargs = dict(options)
    name = kwargs.pop("name")
    cmd = kwargs.pop("cmd")
    try:
        return Watcher(name, cmd, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}, [watcher:{name}]: {exc}") from exc


def _check_statsd(options: dict[str, Any], source: str) -> None:
    # As upstream: a stats_endpoint (or, ours, prometheus) only makes sense with
    # circusd-stats running, so it turns statsd on, with a warning.
    reason = "statsd = True"
    if not options.get("statsd"):
        key = next((k for k in ("stats_endpoint", "prometheus") if options.get(k)), None)
        if key is None:
            return
        logger.warning("%s: [circus] %s is set, so statsd is turned on", source, key)
        options["statsd"] = True
        reason = f"{key} = {options[key]} (which turns statsd on)"
    if not _statsd.stats_installed():
        raise ConfigError(
            f"{source}, [circus] {reason}: circusd-stats comes with the circus-stats "
            "package, which is not installed: pip install circus-stats"
        )


def build_arbiter(config: CircusConfig, **overrides: Any) -> Arbiter:
    """Create the arbiter described by ``config``; ``overrides`` win over [circus]."""
    # Hook modules next to the config file are found (also for `add`, `reloadconfig`).
    _hooks.add_search_dir(os.path.dirname(config.path))
    watchers = [build_watcher(dict(w), config.path) for w in config.watchers]
    options = {key: config.circus[key] for key in _ARBITER_KEYS if key in config.circus}
    _check_statsd(options, config.path)
    options.update(overrides)
    options.setdefault("sockets", {s["name"]: dict(s) for s in config.sockets})
    arbiter = Arbiter(watchers, plugins=[dict(p) for p in config.plugins], **options)
    arbiter.config = config
    return arbiter
