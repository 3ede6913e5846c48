"""circusd-stats as a watcher of circusd (``[circus] statsd = True``).

circusd-stats ships in the separate circus-stats package and talks to circusd
only over its endpoints; circusd just launches it, as one more watcher, with
the command line upstream uses, so either side can be swapped for upstream's.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Protocol

from circus._setup.launch import LaunchHost, curve_args, log_args, package_installed, ssh_args
from circus.errors import ConfigError
from circus.watcher import Watcher

STATS_WATCHER = "circusd-stats"
_LAUNCH = "from circus import stats; stats.main()"


class StatsHost(LaunchHost, Protocol):
    """What launching circusd-stats needs of the arbiter (a :class:`~circus.arbiter.Arbiter`)."""

    @property
    def pubsub_endpoint(self) -> str | None:
        """The event endpoint."""
        ...

    @property
    def stats_endpoint(self) -> str | None:
        """Where circusd-stats publishes."""
        ...

    @property
    def prometheus(self) -> str | None:
        """``host:port`` of the Prometheus endpoint, if any."""
        ...

    @property
    def curve_authorized_keys(self) -> str | None:
        """The directory of authorized client keys, if CURVE is on."""
        ...

    @property
    def statsd_close_outputs(self) -> bool:
        """Whether circusd-stats' output goes to /dev/null."""
        ...


def stats_installed() -> bool:
    """True if the circus-stats package (``circus.stats``) can be imported."""
    return package_installed("circus.stats")


def stats_command(arbiter: StatsHost) -> str:
    """The circusd-stats command line for ``arbiter``'s endpoints and options."""
    argv = [sys.executable, "-c", _LAUNCH,
            "--endpoint", str(arbiter.endpoint),
            "--pubsub", str(arbiter.pubsub_endpoint),
            "--statspoint", str(arbiter.stats_endpoint)]
    if arbiter.prometheus:
        argv += ["--prometheus", arbiter.prometheus]
    argv += ssh_args(arbiter) + log_args(arbiter) + curve_args(arbiter)
    if arbiter.curve_secret_key and arbiter.curve_authorized_keys:
        # Its stats endpoint then takes the same clients as circusd's endpoints.
        argv += ["--curve-authorized-keys", os.path.abspath(arbiter.curve_authorized_keys)]
    return shlex.join(argv)


def stats_watcher(arbiter: StatsHost) -> Watcher:
    """The ``circusd-stats`` watcher.

    Raises:
        ConfigError: circus-stats is not installed, or circusd has no control
            or event endpoint for it to talk to.
    """
    if not stats_installed():
        raise ConfigError(
            "statsd = True needs circusd-stats, from the circus-stats package, "
            "which is not installed: pip install circus-stats"
        )
    if not arbiter.endpoint or not arbiter.pubsub_endpoint:
        raise ConfigError("statsd = True needs both endpoint and pubsub_endpoint to be set")
    close = arbiter.statsd_close_outputs
    return Watcher(
        STATS_WATCHER,
        stats_command(arbiter),
        singleton=True,
        # It counts socket hits on circusd's listening sockets, inherited here.
        use_sockets=True,
        copy_env=True,
        copy_path=True,
        close_child_stdout=close,
        close_child_stderr=close,
    )
