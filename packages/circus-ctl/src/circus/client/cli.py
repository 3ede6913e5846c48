"""The command-line options the Circus tools share, for ``argparse``.

``circusctl``, ``circusd-stats``, ``circus-top`` (and the plugin runner and
the web console) take the same kinds of option: an endpoint, ``--ssh`` with
its key file, durations in seconds, a log level. They spell and check them
here, once::

    parser = OneLineParser(prog="mytool")
    add_endpoint(parser, default=DEFAULT_PUBSUB, help="circusd's events (default: %(default)s)")
    parser.add_argument("--interval", type=seconds_type(), default=1.0)
    add_log_level(parser)
    add_ssh(parser)
    add_curve(parser)
    ns = parser.parse_args()
    check_ssh(parser, ns)
    curve = curve_keys(parser, ns)  # None unless CURVE is asked for

It imports only the standard library, :mod:`circus.client.protocol` and the
stdlib-only key file reader.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from circus.client.protocol import CONTROL_SCHEMES, EndpointError, parse_endpoint

if TYPE_CHECKING:
    from circus.client._curve import CurveKeys

EXIT_USAGE = 2
"""The exit status of a usage error, as argparse's."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""The log levels a ``--log-level`` option accepts, in any case."""

class Container(Protocol):
    """Where options are added: an ``ArgumentParser`` or one of its argument groups."""

    # Untyped as in argparse's own signature: its keyword arguments share no type.
    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> argparse.Action:
        """Add one option, as ``argparse`` does."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, exit status 2.

    The line is ``PROG: error: MESSAGE (see --help)`` on stderr, without the
    usage block argparse prints by default, so a script's log shows the
    complaint and nothing else.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line on stderr and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def endpoint_type(schemes: tuple[str, ...] = CONTROL_SCHEMES) -> Callable[[str], str]:
    """An argparse ``type`` accepting a ZeroMQ endpoint of ``schemes``, unchanged.

    Args:
        schemes: the transports accepted (see :func:`~circus.client.protocol.parse_endpoint`).

    Returns:
        A function from the text to the text; it raises ``ArgumentTypeError``
        with :class:`~circus.client.protocol.EndpointError`'s message.
    """
    def endpoint(text: str) -> str:
        try:
            return parse_endpoint(text, schemes).text
        except EndpointError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return endpoint


def add_endpoint(
    container: Container, flag: str = "--endpoint", *, default: str | None, help: str,
    schemes: tuple[str, ...] | None = CONTROL_SCHEMES,
) -> None:
    """Add an endpoint option, checked while parsing.

    Args:
        container: the parser or group.
        flag: the option, ``--endpoint`` unless told.
        default: the value when the option is absent (``argparse.SUPPRESS`` leaves it out).
        help: the help line (``%(default)s`` is replaced), or ``argparse.SUPPRESS``.
        schemes: the transports accepted; ``None`` takes any text, for a tool
            that checks the endpoint later because it may come from elsewhere
            (``circusctl`` reads ``$CIRCUSCTL_ENDPOINT`` too).
    """
    checker = None if schemes is None else endpoint_type(schemes)
    container.add_argument(flag, type=checker, default=default, metavar="ENDPOINT", help=help)


def seconds_type(
    *, not_a_number: str = "expected a number of seconds, got {text!r}",
    not_positive: str = "must be a number of seconds above 0, got {text!r}",
) -> Callable[[str], float]:
    """An argparse ``type`` for a duration: a finite number of seconds above 0.

    Args:
        not_a_number: the message for text that is not a number (``{text!r}``
            is replaced); a tool keeps its established wording with it.
        not_positive: the message for 0, a negative number, infinity or NaN.

    Returns:
        A function from the text to the seconds, as a float.
    """
    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(not_a_number.format(text=text)) from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(not_positive.format(text=text))
        return value

    return seconds


def add_log_level(container: Container, flag: str = "--log-level", default: str = "info") -> None:
    """Add a log level option taking one of :data:`LOG_LEVELS` in any case (dest ``log_level``)."""
    container.add_argument(
        flag, dest="log_level", type=str.lower, choices=LOG_LEVELS, default=default,
        help="how much to log (default: %(default)s)",
    )


def add_ssh(
    container: Container, *, keyfile_flags: tuple[str, ...] = ("--ssh-keyfile", "--ssh_keyfile"),
    default: str | None = None, show_help: bool = True,
) -> None:
    """Add ``--ssh USER@HOST:PORT`` and its key file option (dests ``ssh`` and ``ssh_keyfile``).

    Args:
        container: the parser or group.
        keyfile_flags: the key file option's spellings; the first one shows in
            the help (circusctl keeps upstream's ``--ssh_keyfile`` first).
        default: the value of an absent option (``argparse.SUPPRESS`` leaves it out).
        show_help: ``False`` hides both options from the help.
    """
    container.add_argument(
        "--ssh", default=default, metavar="USER@HOST:PORT",
        help=("reach the endpoint through an ssh tunnel to this server" if show_help
              else argparse.SUPPRESS),
    )
    container.add_argument(
        *keyfile_flags, dest="ssh_keyfile", default=default, metavar="KEYFILE",
        help="the private key for --ssh" if show_help else argparse.SUPPRESS,
    )


def check_ssh(
    parser: argparse.ArgumentParser, ns: argparse.Namespace, keyfile_flag: str = "--ssh-keyfile",
) -> None:
    """Fail with a usage error if a key file was given without ``--ssh``.

    Args:
        parser: the parser whose ``error`` reports it.
        ns: the parsed options.
        keyfile_flag: how the message spells the key file option.
    """
    if getattr(ns, "ssh_keyfile", None) and not getattr(ns, "ssh", None):
        parser.error(f"{keyfile_flag} needs --ssh")


CURVE_SERVER_KEY_ENV = "CIRCUS_CURVE_SERVER_KEY"
"""The environment variable ``--curve-server-key`` defaults to."""

CURVE_KEY_ENV = "CIRCUS_CURVE_KEY"
"""The environment variable ``--curve-key`` defaults to."""


def add_curve(container: Container, *, suppress: bool = False) -> None:
    """Add ``--curve-server-key FILE`` and ``--curve-key FILE`` (dests ``curve_server_key``,
    ``curve_key``), defaulting to ``$CIRCUS_CURVE_SERVER_KEY`` and ``$CIRCUS_CURVE_KEY``.

    Read them back with :func:`curve_keys`.

    Args:
        container: the parser or group.
        suppress: hide both options and leave them out when absent (for a
            second-stage parser that accepts global options again).
    """
    import os

    def default(env: str) -> str | None:
        return argparse.SUPPRESS if suppress else (os.environ.get(env) or None)

    container.add_argument(
        "--curve-server-key", default=default(CURVE_SERVER_KEY_ENV), metavar="FILE",
        help=argparse.SUPPRESS if suppress else
        f"the server's public key file; turns CURVE on (default: ${CURVE_SERVER_KEY_ENV})",
    )
    container.add_argument(
        "--curve-key", default=default(CURVE_KEY_ENV), metavar="FILE",
        help=argparse.SUPPRESS if suppress else
        f"this client's secret key file (.key_secret) (default: ${CURVE_KEY_ENV})",
    )


def curve_keys(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> CurveKeys | None:
    """The CURVE keys ``--curve-server-key``/``--curve-key`` name, or None when neither is set.

    A missing half, or a key file that cannot be read, is a one-line usage
    error through ``parser.error``.
    """
    from circus.client._curve import KeyFileError, load_curve_keys

    server = getattr(ns, "curve_server_key", None)
    client = getattr(ns, "curve_key", None)
    if not server and not client:
        return None
    if not server or not client:
        missing = "--curve-key" if server else "--curve-server-key"
        parser.error(f"CURVE needs both --curve-server-key and --curve-key; {missing} "
                     "is missing")
    try:
        return load_curve_keys(server, client)
    except KeyFileError as exc:
        parser.error(str(exc))
