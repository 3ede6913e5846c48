"""circus.stats: ``circusd-stats``, the per-process statistics publisher.

It follows a circusd through its control and event endpoints only (it never
imports circus-core), samples the processes of every watcher once per
interval and publishes upstream's stats channel on an XPUB socket (its
topics and payloads are listed under "circusd-stats" in the circus-stats
README), plus, with ``--prometheus``, a Prometheus endpoint.
"""

from __future__ import annotations

import asyncio
import sys

from circus.stats._app import StartupError, run
from circus.stats._cli import PROG, Options, configure_logging, parse_args

__all__ = ["Options", "main", "run"]


def main(argv: list[str] | None = None) -> None:
    """Run ``circusd-stats`` with ``argv`` (default ``sys.argv[1:]``); always exits.

    Exit status: 0 after SIGTERM/SIGINT, 2 for a bad command line, 1 when an
    endpoint cannot be bound or the log file cannot be opened.
    """
    options = parse_args(argv)  # a usage error exits 2 here, with one line
    try:
        configure_logging(options)
    except OSError as exc:
        print(f"{PROG}: error: cannot open the log file {options.log_output}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    try:
        asyncio.run(run(options))
    except StartupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        pass
    sys.exit(0)
