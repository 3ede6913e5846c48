"""circusd's own file-descriptor budget.

Each child costs circusd one pidfd plus one fd per output pipe, so 10,000
children need far more than the usual soft limit of 1024. We raise the soft
limit as needed, and the hard limit too when running as root.
"""

from __future__ import annotations

import logging
import os
import resource

logger = logging.getLogger("circus")

FDS_PER_CHILD = 3  # pidfd + stdout pipe + stderr pipe
_HEADROOM = 256


def ensure_nofile(children: int) -> None:
    """Make sure circusd may open enough fds to supervise ``children`` processes."""
    needed = children * FDS_PER_CHILD + _HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed and os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as handle:
                ceiling = int(handle.read())
        except OSError:
            ceiling = 1 << 20
        hard = min(max(needed, hard), ceiling)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        logger.warning("cannot raise RLIMIT_NOFILE to %d: %s", target, exc)
        return
    if target < needed:
        logger.warning("RLIMIT_NOFILE hard limit %d is too low for %d processes", hard, children)
