"""``circusd``: run the Circus daemon on a configuration file."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from circus import __version__
from circus._daemon.daemonize import daemonize
from circus._daemon.from_config import build_arbiter
from circus._daemon.logs import LEVELS, configure_logging
from circus._daemon.pidfile import Pidfile
from circus._daemon.systemd import SystemdNotifier
from circus._setup.build import option_value, optional_value
from circus.config import load_config
from circus.errors import CircusError, ConfigError

logger = logging.getLogger("circus")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circusd", description="Run the Circus process and socket manager."
    )
    parser.add_argument("config", nargs="?", help="configuration file")
    parser.add_argument("--log-level", dest="loglevel", choices=LEVELS, type=str.lower,
                        help="log level (default: the config's loglevel, else info)")
    parser.add_argument("--log-output", dest="logoutput",
                        help="where logs go: -, a file, syslog://host:port?facility or "
                             "syslog:///dev/log?facility")
    parser.add_argument("--logger-config", dest="loggerconfig",
                        help="an INI, JSON or YAML logging configuration file, or 'default'")
    parser.add_argument("--daemon", action="store_true", help="run in the background")
    parser.add_argument("--pidfile", help="write circusd's pid to this file")
    parser.add_argument("--version", action="version", version=f"circusd {__version__}")
    return parser


HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
                signal.SIGUSR2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``circusd`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.config is None:
        parser.print_usage()
        return 0
    try:
        return _run(args)
    except CircusError as exc:
        print(f"circusd: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = config.circus
    debug = option_value(settings, "debug", bool)
    level = args.loglevel or ("debug" if debug else option_value(settings, "loglevel", str))
    output = args.logoutput or option_value(settings, "logoutput", str)
    logger_config = args.loggerconfig or optional_value(settings, "loggerconfig", str)
    pidfile_path = args.pidfile or optional_value(settings, "pidfile", str)
    # Build everything first so a bad config fails on the terminal, not after detaching.
    arbiter = build_arbiter(config, reap_orphans=True, loglevel=level, logoutput=output,
                            loggerconfig=logger_config, pidfile=pidfile_path)
    pidfile = Pidfile(pidfile_path) if pidfile_path else None
    # Held until the arbiter routes them (SignalRouter.add unblocks each): a
    # stop signal sent once the pidfile exists must stop circusd cleanly, not
    # kill it before its handlers exist and leave the pidfile behind.
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    if pidfile is not None:
        pidfile.create(os.getpid())  # refuse early if another circusd holds it
    if args.daemon:
        if pidfile is not None:
            pidfile.unlink()
        daemonize()
        if pidfile is not None:
            pidfile.create(os.getpid())
    try:
        # After the fork of --daemon: WATCHDOG_PID names the process systemd watches.
        arbiter.systemd = _systemd_notifier()
        configure_logging(level, output, logger_config)
        logger.info("circusd %s starting (pid %d) with %s", __version__, os.getpid(),
                    config.path)
        arbiter.start()
        logger.info("circusd stopped")
    finally:
        if arbiter.systemd is not None:
            arbiter.systemd.close()
        if pidfile is not None:
            pidfile.unlink()
    return 0


def _systemd_notifier() -> SystemdNotifier | None:
    """The sd_notify sender systemd asked for (``Type=notify``), taken out of the environment."""
    try:
        return SystemdNotifier.from_environ()
    except ValueError as exc:
        raise ConfigError(f"systemd: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
