"""circushttpd as a watcher of circusd (``[circus] httpd = True``), as upstream ran it.

circushttpd ships in the separate circus-web package and talks to circusd only
over its endpoints. circusd binds the socket ``circushttpd`` on
``httpd_host:httpd_port`` and runs one more watcher, ``circushttpd``, on it
(``--fd $(circus.sockets.circushttpd)``). The console refuses a non-loopback
address without authentication; such a setup runs circushttpd as a watcher of
its own, with ``--users-file`` or ``--token-file``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from typing import Protocol

from circus._setup.launch import LaunchHost, curve_args, log_args, package_installed, ssh_args
from circus.errors import ConfigError
from circus.sockets import CircusSocket, SocketLike
from circus.watcher import Watcher

HTTPD = "circushttpd"
"""The name of both the socket and the watcher, as upstream."""
_LAUNCH = "from circus.web import main; main()"


class HttpdHost(LaunchHost, Protocol):
    """What launching circushttpd needs of the arbiter (a :class:`~circus.arbiter.Arbiter`)."""

    @property
    def sockets(self) -> Mapping[str, SocketLike]:
        """The arbiter's sockets, by name."""
        ...

    @property
    def httpd_host(self) -> str:
        """The host circushttpd binds."""
        ...

    @property
    def httpd_port(self) -> int:
        """The port circushttpd binds."""
        ...

    @property
    def httpd_close_outputs(self) -> bool:
        """Whether circushttpd's output goes to /dev/null."""
        ...


def httpd_installed() -> bool:
    """True if the circus-web package (``circus.web``) can be imported."""
    return package_installed("circus.web")


def httpd_command(arbiter: HttpdHost) -> str:
    """The circushttpd command line for ``arbiter``'s endpoint and options."""
    argv = [sys.executable, "-c", _LAUNCH,
            "--fd", f"$(circus.sockets.{HTTPD})",
            "--endpoint", str(arbiter.endpoint)]
    argv += ssh_args(arbiter) + log_args(arbiter) + curve_args(arbiter)
    return shlex.join(argv)


def httpd_socket(arbiter: HttpdHost) -> CircusSocket:
    """The listening socket circushttpd serves on.

    Raises:
        ConfigError: the config already has a socket of that name.
    """
    if HTTPD in arbiter.sockets:
        raise ConfigError(f"httpd = True binds a socket named {HTTPD}, and [socket:{HTTPD}] "
                          "already exists: remove one of them")
    return CircusSocket(HTTPD, host=arbiter.httpd_host, port=arbiter.httpd_port)


def httpd_watcher(arbiter: HttpdHost) -> Watcher:
    """The ``circushttpd`` watcher.

    Raises:
        ConfigError: circus-web is not installed, or circusd has no control
            endpoint for the console to talk to.
    """
    if not httpd_installed():
        raise ConfigError("httpd = True needs circushttpd, from the circus-web package, "
                          "which is not installed: pip install circus-web")
    if not arbiter.endpoint:
        raise ConfigError("httpd = True needs endpoint to be set")
    close = arbiter.httpd_close_outputs
    return Watcher(
        HTTPD,
        httpd_command(arbiter),
        singleton=True,
        use_sockets=True,
        copy_env=True,
        copy_path=True,
        close_child_stdout=close,
        close_child_stderr=close,
    )
