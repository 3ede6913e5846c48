"""Detaching circusd from the terminal (``--daemon``)."""

from __future__ import annotations

import os
import resource


def daemonize() -> None:
    """Double-fork into the background, in a new session, with stdio on /dev/null.

    Runs before the event loop and any thread exist, so a plain fork is safe.
    """
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = soft if soft != resource.RLIM_INFINITY else 4096
    os.closerange(3, limit)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)
