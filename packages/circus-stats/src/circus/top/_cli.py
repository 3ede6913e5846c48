"""The ``circus-top`` command line: parse options, open the channel, run the console."""

from __future__ import annotations

import contextlib
import curses
import locale
import os
import sys

import zmq
from circus.client import DEFAULT_STATS_ENDPOINT, close_ssh_tunnels
from circus.client.cli import (
    OneLineParser,
    add_curve,
    add_endpoint,
    add_ssh,
    check_ssh,
    curve_keys,
    seconds_type,
)
from circus.top._channel import ChannelError, open_stats_socket
from circus.top._model import StatsModel
from circus.top._screen import run_console
from circus.top._version import __version__

EXIT_OK, EXIT_FAILED = 0, 1


def build_parser() -> OneLineParser:
    """The parser for circus-top's options."""
    parser = OneLineParser(
        prog="circus-top",
        description="A top-like console showing the CPU, memory and socket hits that "
                    "circusd-stats publishes.",
    )
    add_endpoint(parser, default=DEFAULT_STATS_ENDPOINT,
                 help="the circusd-stats endpoint (default: %(default)s)")
    parser.add_argument("--process-timeout", type=seconds_type(), default=3.0, metavar="SECONDS",
                        help="forget a process not refreshed for this long (default: 3)")
    add_ssh(parser)
    add_curve(parser)
    parser.add_argument("--version", action="version", version=f"circus-top {__version__}")
    return parser


def _fail(message: str) -> int:
    print(f"circus-top: error: {message}", file=sys.stderr)
    return EXIT_FAILED


def run(argv: list[str]) -> int:
    """Run circus-top with ``argv`` (without the program name); return the exit status."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    check_ssh(parser, ns)
    curve = curve_keys(parser, ns)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _fail("needs a terminal: run it in a console, not with redirected input or output")
    # So curses draws non-ASCII watcher names; a broken LANG only costs that.
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_ALL, "")
    context = zmq.Context()
    try:
        sock = open_stats_socket(context, ns.endpoint, ns.ssh, ns.ssh_keyfile, curve)
    except ChannelError as exc:
        context.term()
        return _fail(str(exc))
    try:
        return run_console(sock, StatsModel(ns.process_timeout), ns.endpoint)
    except curses.error as exc:  # an unknown TERM, or a terminal curses cannot set up
        return _fail(f"cannot drive this terminal (TERM={os.environ.get('TERM', '')!r}): {exc}")
    finally:
        sock.close()
        close_ssh_tunnels()  # a forked tunnel would ignore the exit's SIGTERM
        context.term()


def main(argv: list[str] | None = None) -> int:
    """The ``circus-top`` entry point; returns the exit status (0, 1 failure, 2 usage)."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl-C before the console took over the signal
        return EXIT_OK
