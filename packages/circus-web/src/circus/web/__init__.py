"""circus.web: ``circushttpd``, a live and secure web console for circusd.

It talks to each circusd only through :mod:`circus.client` (control
endpoint, event channel) and circusd-stats' stats channel; see README.md.
"""

from __future__ import annotations

import asyncio
import sys

from circus.web._auth import Role, hash_password, verify_password
from circus.web._cli import PROG, Options, configure_logging, parse_args
from circus.web._server import StartupError, run

__all__ = ["Options", "Role", "StartupError", "hash_password", "main", "run",
           "verify_password"]


def main(argv: list[str] | None = None) -> None:
    """Run ``circushttpd`` with ``argv`` (default ``sys.argv[1:]``); always exits.

    Exit status: 0 after SIGTERM/SIGINT, 2 for a bad command line, 1 when it
    cannot start (address in use, unsafe bind, bad auth or TLS files).
    """
    parsed = parse_args(argv)
    if isinstance(parsed, str):  # --hash-password
        print(parsed)
        sys.exit(0)
    try:
        configure_logging(parsed)
    except OSError as exc:
        print(f"{PROG}: error: cannot open the log file {parsed.log_output}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    try:
        asyncio.run(run(parsed))
    except StartupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    sys.exit(0)
