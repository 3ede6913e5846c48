"""Turning a loaded :class:`~circus.config.CircusConfig` into an Arbiter.

The Arbiter class is an argument: this layer sits below :mod:`circus.arbiter`,
whose ``load_from_config`` calls :func:`build` (circusd calls it through
:func:`circus._daemon.from_config.build_arbiter`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict, TypeVar

from circus._setup import statsd as _statsd
from circus._watching import hooks as _hooks
from circus.config import CIRCUS_OPTIONS, CircusConfig
from circus.errors import ConfigError
from circus.sockets import SocketSpec
from circus.watcher import Watcher

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from circus._channels.controller import ZmqContext
    from circus.arbiter import Arbiter

    A = TypeVar("A", bound=Arbiter)

logger = logging.getLogger("circus")

_T = TypeVar("_T")


class ArbiterExtras(TypedDict, total=False):
    """The Arbiter keyword arguments :func:`circus.get_arbiter` passes through as they are."""

    check_delay: float
    prereload_fn: Callable[[Arbiter], object] | None
    statsd: bool
    statsd_close_outputs: bool
    multicast_endpoint: str | None
    sockets: Mapping[str, SocketSpec] | Sequence[SocketSpec] | None
    warmup_delay: float
    httpd: bool
    httpd_host: str
    httpd_port: int
    httpd_close_outputs: bool
    debug_gc: bool
    ssh_server: str | None
    pidfile: str | None
    loglevel: str | None
    logoutput: str | None
    loggerconfig: str | None
    fqdn_prefix: str | None
    umask: int | None
    endpoint_owner: str | None
    papa_endpoint: str | None
    reap_orphans: bool
    prometheus: str | None
    curve_secret_key: str | None
    curve_authorized_keys: str | None


class ArbiterOptions(ArbiterExtras, total=False):
    """The keyword arguments of :class:`~circus.arbiter.Arbiter` after ``watchers``.

    Those that are ``[circus]`` options carry the same name; a test holds
    this list equal to the constructor's parameters.
    """

    endpoint: str | None
    pubsub_endpoint: str | None
    context: ZmqContext | None
    loop: object
    stats_endpoint: str | None
    plugins: Iterable[Mapping[str, object]] | None
    debug: bool
    proc_name: str


def option_value(circus: Mapping[str, object], key: str, kind: type[_T]) -> _T:
    """``[circus] key`` as its parser made it (the table's default when absent)."""
    value = circus.get(key, CIRCUS_OPTIONS[key].default)
    if not isinstance(value, kind):
        # The option table's parser for ``key`` makes a ``kind``: a bug if not.
        raise TypeError(f"[circus] {key}: {value!r} is not {kind.__name__}")
    return value


def optional_value(circus: Mapping[str, object], key: str, kind: type[_T]) -> _T | None:
    """``[circus] key``, which may be None ("not set")."""
    value = circus.get(key, CIRCUS_OPTIONS[key].default)
    return None if value is None else option_value(circus, key, kind)


def arbiter_options(circus: Mapping[str, object]) -> ArbiterOptions:
    """The Arbiter's arguments from a parsed ``[circus]`` section, read key by key.

    The loader's own keys (``include``, ``include_dir``, ``stream_backend``)
    are not the Arbiter's and are left out.
    """
    return {
        "endpoint": optional_value(circus, "endpoint", str),
        "endpoint_owner": optional_value(circus, "endpoint_owner", str),
        "pubsub_endpoint": optional_value(circus, "pubsub_endpoint", str),
        "multicast_endpoint": optional_value(circus, "multicast_endpoint", str),
        "stats_endpoint": optional_value(circus, "stats_endpoint", str),
        "statsd": option_value(circus, "statsd", bool),
        "prometheus": optional_value(circus, "prometheus", str),
        "statsd_close_outputs": option_value(circus, "statsd_close_outputs", bool),
        "check_delay": option_value(circus, "check_delay", float),
        "warmup_delay": option_value(circus, "warmup_delay", float),
        "httpd": option_value(circus, "httpd", bool),
        "httpd_host": option_value(circus, "httpd_host", str),
        "httpd_port": option_value(circus, "httpd_port", int),
        "httpd_close_outputs": option_value(circus, "httpd_close_outputs", bool),
        "debug": option_value(circus, "debug", bool),
        "debug_gc": option_value(circus, "debug_gc", bool),
        "pidfile": optional_value(circus, "pidfile", str),
        "umask": optional_value(circus, "umask", int),
        "loglevel": optional_value(circus, "loglevel", str),
        "logoutput": optional_value(circus, "logoutput", str),
        "loggerconfig": optional_value(circus, "loggerconfig", str),
        "fqdn_prefix": optional_value(circus, "fqdn_prefix", str),
        "papa_endpoint": optional_value(circus, "papa_endpoint", str),
        "ssh_server": optional_value(circus, "ssh_server", str),
        "curve_secret_key": optional_value(circus, "curve_secret_key", str),
        "curve_authorized_keys": optional_value(circus, "curve_authorized_keys", str),
    }


def _check_statsd(options: ArbiterOptions, source: str) -> None:
    # As upstream: a stats_endpoint (or, ours, prometheus) only makes sense with
    # circusd-stats running, so it turns statsd on, with a warning.
    reason = "statsd = True"
    if not options.get("statsd"):
        if options.get("stats_endpoint"):
            key, value = "stats_endpoint", options.get("stats_endpoint")
        elif options.get("prometheus"):
            key, value = "prometheus", options.get("prometheus")
        else:
            return
        logger.warning("%s: [circus] %s is set, so statsd is turned on", source, key)
        options["statsd"] = True
        reason = f"{key} = {value} (which turns statsd on)"
    if not _statsd.stats_installed():
        raise ConfigError(
            f"{source}, [circus] {reason}: circusd-stats comes with the circus-stats "
            "package, which is not installed: pip install circus-stats"
        )


def build(arbiter_class: type[A], config: CircusConfig, **overrides: Unpack[ArbiterOptions]) -> A:
    """Create the ``arbiter_class`` described by ``config``; ``overrides`` win over [circus]."""
    # Hook modules next to the config file are found (also for `add`, `reloadconfig`).
    _hooks.add_search_dir(os.path.dirname(config.path))
    watchers = [Watcher.load_from_config(w, config.path) for w in config.watchers]
    options = arbiter_options(config.circus)
    _check_statsd(options, config.path)
    options.update(overrides)
    options.setdefault("sockets", {str(s["name"]): dict(s) for s in config.sockets})
    options.setdefault("plugins", [dict(p) for p in config.plugins])
    arbiter = arbiter_class(watchers, **options)
    arbiter.config = config
    return arbiter
