"""``circus-plugin``: run one plugin class against a circusd.

The options are upstream's, so circusd's command line for a ``[plugin:NAME]``
section (``python -c 'from circus import plugins;plugins.main()' --endpoint E
--pubsub P [--ssh S] [--config k:v:::k:v] [--log-level L] [--log-output O]
dotted.Class``) runs unchanged. Anything that keeps the plugin from running
(bad class name, module that fails to import, bad option, missing package,
``handle_init`` raising) prints one line naming it and exits with status 1,
which the plugin's watcher then backs off on.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from circus.client import (
    DEFAULT_ENDPOINT,
    DEFAULT_PUBSUB,
    CircusClient,
    CurveKeys,
    KeyFileError,
    load_curve_keys,
)
from circus.client.cli import add_curve
from circus.plugins._base import CircusPlugin
from circus.plugins._options import PluginError, parse_config

log = logging.getLogger("circus.plugins")

FAILURE_REPORT_TIMEOUT = 2.0  # seconds; a failing plugin must not hang on its way out

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMAT = "%(asctime)s %(name)s[%(process)d] [%(levelname)s] %(message)s"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("circus-plugins")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with upstream's options and defaults."""
    parser = argparse.ArgumentParser(prog="circus-plugin", description="Runs a plugin.")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT,
                        help="circusd's control endpoint (default %(default)s)")
    parser.add_argument("--pubsub", default=DEFAULT_PUBSUB,
                        help="circusd's event endpoint (default %(default)s)")
    parser.add_argument("--config", default=None,
                        help="the plugin's options as key:value:::key:value")
    parser.add_argument("--version", action="store_true", default=False,
                        help="print the version and exit")
    parser.add_argument("--check-delay", type=float, default=5.0, dest="check_delay",
                        help="seconds between liveness checks of circusd (default 5)")
    parser.add_argument("--log-level", dest="loglevel", default="info",
                        help="one of " + ", ".join(LOG_LEVELS) + " (default info)")
    parser.add_argument("--log-output", dest="logoutput", default="-",
                        help="a file name, or - for stdout (default)")
    parser.add_argument("--ssh", default=None, help="user@host:port of an ssh server")
    add_curve(parser)
    parser.add_argument("plugin", nargs="?", help="dotted name of the plugin class")
    return parser


def resolve_class(dotted: str) -> type[CircusPlugin]:
    """Import ``module.Class`` and check that it is a :class:`CircusPlugin`.

    Raises:
        PluginError: naming what is wrong (the name, the module, the attribute).
    """
    module_name, dot, attr = dotted.strip().rpartition(".")
    if not dot or not module_name or not attr:
        raise PluginError(f"plugin {dotted!r} is not a dotted class name (package.module.Class)")
    try:
        module = importlib.import_module(module_name)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"cannot import module {module_name!r} for plugin {dotted!r}: "
                          f"{type(exc).__name__}: {exc}") from None
    found = getattr(module, attr, None)
    if found is None:
        raise PluginError(f"module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(found, type) and issubclass(found, CircusPlugin)):
        raise PluginError(f"{dotted!r} is not a subclass of circus.plugins.CircusPlugin")
    return found


def configure_logging(level: str, output: str) -> None:
    """Send every logger's records to ``output`` (``-`` is stdout) at ``level``."""
    if level.lower() not in LOG_LEVELS:
        raise PluginError(f"--log-level {level!r}: expected one of {', '.join(LOG_LEVELS)}")
    handler: logging.Handler
    if output == "-":
        handler = logging.StreamHandler(sys.stdout)
    else:
        try:
            handler = logging.FileHandler(output)
        except OSError as exc:
            raise PluginError(f"--log-output {output!r}: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``circus-plugin`` (and of ``from circus import plugins; plugins.main()``)."""
    args = build_parser().parse_args(argv)
    if args.version:
        print(_version())
        sys.exit(0)
    if args.plugin is None:
        build_parser().print_usage()
        sys.exit(0)
    sys.exit(run(args))


def _fail(message: str, args: argparse.Namespace | None = None,
          name: str | None = None) -> int:
    # Always one line on stderr; also in the log when the log is a file.
    if any(isinstance(h, logging.FileHandler) for h in logging.getLogger().handlers):
        log.error("%s", message)
    print(f"circus-plugin: {message}", file=sys.stderr)
    if args is not None:
        _announce_failure(args, name or _default_name(args.plugin), message)
    return 1


def _default_name(dotted: str | None) -> str:
    # A valid watcher name for the event topic: no dots.
    return "plugin:" + (dotted or "unknown").rpartition(".")[2]


def _announce_failure(args: argparse.Namespace, name: str, message: str) -> None:
    """Publish the failure on circusd's event channel, as ``watcher.<name>.action``.

    Best effort and quick: with no circusd (or upstream's, which has no
    ``publish_action``) the line on stderr and the exit status stand alone,
    and the plugin's watcher backs off before the next try.
    """
    try:
        with CircusClient(args.endpoint, timeout=FAILURE_REPORT_TIMEOUT,
                          ssh_server=args.ssh, curve=_curve(args)) as client:
            client.call("publish_action", name=name, source=name, action="failed",
                        reason=message)
    except Exception as exc:  # the failure itself was already reported above
        log.debug("failure not published on the event channel: %s", exc)


def _curve(args: argparse.Namespace) -> CurveKeys | None:
    curve = getattr(args, "curve", None)
    return curve if isinstance(curve, CurveKeys) else None


def load_curve(args: argparse.Namespace) -> CurveKeys | None:
    """The keys of ``--curve-server-key``/``--curve-key``; None without them.

    Raises:
        PluginError: one of the two is missing, or a key file is wrong (named).
    """
    server, client = args.curve_server_key, args.curve_key
    if not server and not client:
        return None
    if not server or not client:
        missing = "--curve-key" if server else "--curve-server-key"
        raise PluginError(f"CURVE needs both --curve-server-key and --curve-key; {missing} "
                          "is missing")
    try:
        return load_curve_keys(server, client)
    except KeyFileError as exc:
        raise PluginError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Load, start and run the plugin; the process's exit status."""
    config: dict[str, str] = {}
    try:
        configure_logging(args.loglevel, args.logoutput)
        args.curve = load_curve(args)
        config = parse_config(args.config)
        factory = resolve_class(args.plugin)
    except PluginError as exc:
        return _fail(str(exc), args, config.get("name"))
    log.info("Loading the plugin...")
    log.info("Endpoint: %r", args.endpoint)
    log.info("Pub/sub: %r", args.pubsub)
    try:
        plugin = factory(args.endpoint, args.pubsub, args.check_delay, args.ssh, **config)
    except PluginError as exc:
        return _fail(str(exc), args, config.get("name"))
    except Exception as exc:
        return _fail(f"plugin {args.plugin} failed to load: {type(exc).__name__}: {exc}",
                     args, config.get("name"))
    plugin.curve = _curve(args)
    if not plugin.active:
        log.info("plugin %s is inactive (active = false): not starting", args.plugin)
        plugin.stop()
        return 0
    log.info("Starting")
    try:
        plugin.start()
    except PluginError as exc:
        return _fail(str(exc), args, config.get("name"))
    except Exception as exc:
        return _fail(f"plugin {args.plugin} failed to start: {type(exc).__name__}: {exc}",
                     args, config.get("name"))
    log.info("Stopping")
    return 0
