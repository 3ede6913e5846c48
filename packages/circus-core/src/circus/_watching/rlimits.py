"""circusd's own file-descriptor budget.

Each child may cost circusd a pidfd (when embedded) and one fd per output
pipe, so 10,000 children can need far more than the usual soft limit of 1024.
We raise the soft limit as needed, and the hard limit too when allowed.
"""

from __future__ import annotations

import contextlib
import resource

_HEADROOM = 256


def ensure_nofile(children: int, fds_per_child: int) -> int | None:
    """Make sure circusd may hold ``fds_per_child`` fds for each of ``children``.

    Returns how many children the limit in force allows in all (keeping
    ``_HEADROOM`` fds for the control channel, logs and sockets), or None when
    children cost no fd or the limit is infinite. The caller refuses spawns
    past it (see ``Watcher``): a circusd out of fds could not even accept a
    ``circusctl`` connection.
    """
    needed = children * fds_per_child + _HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or fds_per_child <= 0:
        return None
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            hard = _raise_hard_limit(soft, hard, needed)
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(0, (soft - _HEADROOM) // fds_per_child)


def nofile_limit() -> int:
    """circusd's soft RLIMIT_NOFILE now (named in refusals)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


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
