"""The ``circusd-stats`` command line: argv to :class:`Options`, with one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import NoReturn

PROG = "circusd-stats"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def version() -> str:
    """This package's installed version (``0.1.0`` when run from a source tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("circus-stats")
    except PackageNotFoundError:
        return "0.1.0"


@dataclass(frozen=True)
class Options:
    """Everything ``circusd-stats`` was asked to do."""

    endpoint: str = "tcp://127.0.0.1:5555"
    pubsub: str = "tcp://127.0.0.1:5556"
    statspoint: str = "tcp://127.0.0.1:5557"
    interval: float = 1.0
    prometheus: tuple[str, int] | None = None
    log_level: str = "info"
    log_output: str = "-"
    ssh: str | None = None
    ssh_keyfile: str | None = None


class UsageError(Exception):
    """A bad command line; the message is the one line to show."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--interval expects seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--interval must be a positive number, got {text!r}")
    return value


def parse_host_port(text: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:9100"`` for IPv6) as a pair; raises ``ArgumentTypeError``."""
    host, colon, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"--prometheus expects HOST:PORT (e.g. 127.0.0.1:9100), got {text!r}")
    return host, int(port_text)


def _endpoint(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or not rest or scheme not in ("tcp", "ipc", "inproc", "pgm", "epgm", "vmci"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a ZeroMQ endpoint (e.g. tcp://127.0.0.1:5557 or ipc:///path)")
    return text


def _build_parser() -> _Parser:
    defaults = Options()
    parser = _Parser(prog=PROG, description="Publish per-process statistics of a circusd.")
    parser.add_argument("--endpoint", type=_endpoint, default=defaults.endpoint,
                        help="circusd's control endpoint (default: %(default)s)")
    parser.add_argument("--pubsub", type=_endpoint, default=defaults.pubsub,
                        help="circusd's event endpoint (default: %(default)s)")
    parser.add_argument("--statspoint", type=_endpoint, default=defaults.statspoint,
                        help="where to publish the stats (default: %(default)s)")
    parser.add_argument("--interval", type=_interval, default=defaults.interval,
                        help="seconds between two reports (default: %(default)s)")
    parser.add_argument("--prometheus", type=parse_host_port, default=None,
                        metavar="HOST:PORT", help="also serve Prometheus metrics there")
    parser.add_argument("--log-level", dest="log_level", type=str.lower, choices=LOG_LEVELS,
                        default=defaults.log_level, help="(default: %(default)s)")
    parser.add_argument("--log-output", dest="log_output", default=defaults.log_output,
                        help="a file to log to, or - for stdout (default)")
    parser.add_argument("--ssh", default=None, help="reach circusd through ssh user@host:port")
    parser.add_argument("--ssh-keyfile", "--ssh_keyfile", dest="ssh_keyfile", default=None,
                        help="the ssh key for --ssh")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    return parser


def parse_args(argv: list[str] | None = None) -> Options:
    """Parse ``argv`` (default ``sys.argv[1:]``); raises :class:`UsageError`."""
    args = _build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return Options(endpoint=args.endpoint, pubsub=args.pubsub, statspoint=args.statspoint,
                   interval=args.interval, prometheus=args.prometheus,
                   log_level=args.log_level, log_output=args.log_output, ssh=args.ssh,
                   ssh_keyfile=args.ssh_keyfile)


def configure_logging(options: Options) -> None:
    """Send ``circus.stats`` logs to stdout or the ``--log-output`` file; raises OSError."""
    handler: logging.Handler
    if options.log_output == "-":
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = logging.FileHandler(options.log_output)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s circusd-stats[%(process)d] [%(levelname)s] %(message)s",
        "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("circus.stats")
    logger.handlers[:] = [handler]
    logger.setLevel(options.log_level.upper())
    logger.propagate = False
