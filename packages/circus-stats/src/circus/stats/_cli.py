"""The ``circusd-stats`` command line: argv to :class:`Options`, with one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from circus.client import DEFAULT_ENDPOINT, DEFAULT_PUBSUB, DEFAULT_STATS_ENDPOINT, CurveKeys
from circus.client.cli import (
    OneLineParser,
    add_curve,
    add_endpoint,
    add_log_level,
    add_ssh,
    check_ssh,
    curve_keys,
    seconds_type,
)
from circus.client.protocol import ZMQ_SCHEMES

PROG = "circusd-stats"


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

    endpoint: str = DEFAULT_ENDPOINT
    pubsub: str = DEFAULT_PUBSUB
    statspoint: str = DEFAULT_STATS_ENDPOINT
    interval: float = 1.0
    prometheus: tuple[str, int] | None = None
    log_level: str = "info"
    log_output: str = "-"
    ssh: str | None = None
    ssh_keyfile: str | None = None
    curve: CurveKeys | None = None
    """CURVE keys to talk to circusd; its key pair also serves the stats endpoint."""
    curve_authorized_keys: str | None = None
    """The directory of the public keys that may subscribe to the stats endpoint."""


_interval = seconds_type(not_a_number="--interval expects seconds, got {text!r}",
                         not_positive="--interval must be a positive number, got {text!r}")


def parse_host_port(text: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:9100"`` for IPv6) as a pair; raises ``ArgumentTypeError``."""
    host, colon, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"--prometheus expects HOST:PORT (e.g. 127.0.0.1:9100), got {text!r}")
    return host, int(port_text)


def _build_parser() -> OneLineParser:
    defaults = Options()
    parser = OneLineParser(prog=PROG, description="Publish per-process statistics of a circusd.")
    add_endpoint(parser, default=defaults.endpoint, schemes=ZMQ_SCHEMES,
                 help="circusd's control endpoint (default: %(default)s)")
    add_endpoint(parser, "--pubsub", default=defaults.pubsub, schemes=ZMQ_SCHEMES,
                 help="circusd's event endpoint (default: %(default)s)")
    add_endpoint(parser, "--statspoint", default=defaults.statspoint, schemes=ZMQ_SCHEMES,
                 help="where to publish the stats (default: %(default)s)")
    parser.add_argument("--interval", type=_interval, default=defaults.interval,
                        help="seconds between two reports (default: %(default)s)")
    parser.add_argument("--prometheus", type=parse_host_port, default=None,
                        metavar="HOST:PORT", help="also serve Prometheus metrics there")
    add_log_level(parser, default=defaults.log_level)
    parser.add_argument("--log-output", dest="log_output", default=defaults.log_output,
                        help="a file to log to, or - for stdout (default)")
    add_ssh(parser)
    add_curve(parser)
    parser.add_argument(
        "--curve-authorized-keys", metavar="DIR", default=None,
        help="with --curve-key: serve the stats endpoint with CURVE to the keys (*.key) "
        "in DIR")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    return parser


def parse_args(argv: list[str] | None = None) -> Options:
    """Parse ``argv`` (default ``sys.argv[1:]``); a usage error exits 2 with one line."""
    parser = _build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    check_ssh(parser, args)
    curve = curve_keys(parser, args)
    if curve is not None and not args.curve_authorized_keys:
        parser.error("--curve-key needs --curve-authorized-keys: with CURVE the stats endpoint "
                     "is served to authorized keys only")
    if args.curve_authorized_keys and curve is None:
        parser.error("--curve-authorized-keys needs --curve-server-key and --curve-key")
    return Options(endpoint=args.endpoint, pubsub=args.pubsub, statspoint=args.statspoint,
                   interval=args.interval, prometheus=args.prometheus,
                   log_level=args.log_level, log_output=args.log_output, ssh=args.ssh,
                   ssh_keyfile=args.ssh_keyfile, curve=curve,
                   curve_authorized_keys=args.curve_authorized_keys)


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
