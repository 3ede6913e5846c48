"""What circusd's own helper watchers share: circusd-stats, circushttpd, plugins.

Each ships in a package of its own and talks to circusd only over its
endpoints; circusd launches it as one more watcher with upstream's command
line. This module holds the parts those command lines have in common.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Protocol


class LaunchHost(Protocol):
    """What every helper's command line needs of the arbiter (an ``Arbiter``)."""

    @property
    def endpoint(self) -> str | None:
        """The control endpoint."""
        ...

    @property
    def ssh_server(self) -> str | None:
        """The ssh server to tunnel through, if any."""
        ...

    @property
    def curve_secret_key(self) -> str | None:
        """circusd's CURVE key pair file, if CURVE is on."""
        ...

    @property
    def loglevel(self) -> str | None:
        """circusd's log level, if set."""
        ...

    @property
    def logoutput(self) -> str | None:
        """circusd's log destination, if set."""
        ...


def package_installed(module: str) -> bool:
    """True if ``module`` (``circus.stats``, ``circus.web``...) can be imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ssh_args(host: LaunchHost) -> list[str]:
    """``--ssh SERVER`` when circusd reaches its endpoints through ssh."""
    return ["--ssh", host.ssh_server] if host.ssh_server else []


def curve_args(host: LaunchHost) -> list[str]:
    """``--curve-server-key`` and ``--curve-key`` when circusd's endpoints need CURVE.

    A helper authenticates with circusd's own key pair (an admin's; see
    :mod:`circus._channels.curve`): it runs as circusd's user, who can read that
    file anyway. Only the file's path goes on the command line, which
    ``options`` and ``ps`` show; never a key.
    """
    if not host.curve_secret_key:
        return []
    path = os.path.abspath(host.curve_secret_key)
    return ["--curve-server-key", path, "--curve-key", path]


def log_args(host: LaunchHost) -> list[str]:
    """``--log-level`` and ``--log-output`` as circusd's own.

    The helpers write to stdout or a plain file; syslog stays circusd's, so a
    ``syslog://`` (or any URL) output is not passed on.
    """
    argv = ["--log-level", host.loglevel] if host.loglevel else []
    output = host.logoutput
    if output and output not in ("-", "stdout", "stderr") and "://" not in output:
        argv += ["--log-output", output]
    return argv
