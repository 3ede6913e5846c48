"""circusd's own file-descriptor budget.

Each child may cost circusd a pidfd (when embedded) and one fd per output
pipe, so 10,000 children can need far more than the usual soft limit of 1024.
We raise the soft limit as needed, and the hard limit too when allowed.
"""

from __future__ import annotations

import logging
import resource

logger = logging.getLogger("circus")

_HEADROOM = 256


def ensure_nofile(children: int, fds_per_child: int) -> None:
    """Make sure circusd may hold ``fds_per_child`` fds for each of ``children``."""
    needed = children * fds_per_child + _HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        hard = _raise_hard_limit(soft, hard, needed)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        logger.warning("RLIMIT_NOFILE hard limit %d is too low for %d processes", hard, children)


def _raise_hard_limit(soft: int, hard: int, needed: int) -> int:
    """Raise the hard limit toward ``needed``; returns the hard limit in force."""
    try:
        with open("/proc/sys/fs/nr_open") as handle:
            ceiling = int(handle.read())
    except OSError:
        ceiling = 1 << 20
    wanted = min(needed, ceiling)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))
    except (ValueError, OSError):
        # Needs CAP_SYS_RESOURCE (root in a container may lack it).
        return hard
    return wanted
