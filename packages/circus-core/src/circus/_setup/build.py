"""Turning a loaded :class:`~circus.config.CircusConfig` into an Arbiter.

The Arbiter class is an argument: this layer sits below :mod:`circus.arbiter`,
whose ``load_from_config`` calls :func:`build` (circusd calls it through
:func:`circus._daemon.from_config.build_arbiter`).
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import TYPE_CHECKING, Any, TypeVar

from circus._setup import statsd as _statsd
from circus._watching import hooks as _hooks
from circus.config import CIRCUS_OPTIONS, CircusConfig
from circus.errors import ConfigError
from circus.watcher import Watcher

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

    A = TypeVar("A", bound=Arbiter)

logger = logging.getLogger("circus")


def _arbiter_keys(arbiter_class: type[Arbiter]) -> list[str]:
    """The [circus] options the Arbiter constructor takes, under the same name.

    The others are the loader's (``include``, ``include_dir``, checked
    ``stream_backend``).
    """
    parameters = inspect.signature(arbiter_class).parameters
    return [key for key in CIRCUS_OPTIONS if key in parameters]


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


def build(arbiter_class: type[A], config: CircusConfig, **overrides: Any) -> A:
    """Create the ``arbiter_class`` described by ``config``; ``overrides`` win over [circus]."""
    # Hook modules next to the config file are found (also for `add`, `reloadconfig`).
    _hooks.add_search_dir(os.path.dirname(config.path))
    watchers = [Watcher.load_from_config(w, config.path) for w in config.watchers]
    keys = _arbiter_keys(arbiter_class)
    options = {key: config.circus[key] for key in keys if key in config.circus}
    _check_statsd(options, config.path)
    options.update(overrides)
    options.setdefault("sockets", {s["name"]: dict(s) for s in config.sockets})
    arbiter = arbiter_class(watchers, plugins=[dict(p) for p in config.plugins], **options)
    arbiter.config = config
    return arbiter
