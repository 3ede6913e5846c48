"""``circushttpd``'s command line: upstream's options plus TLS, auth and audit."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from circus.client import CurveKeys, KeyFileError, read_key_file
from circus.client.cli import (
    OneLineParser,
    add_curve,
    add_log_level,
    add_ssh,
    check_ssh,
    curve_keys,
    seconds_type,
)
from circus.client.protocol import DEFAULT_ENDPOINT
from circus.web._node import NodeSpec

PROG = "circushttpd"


def package_version() -> str:
    """This package's version."""
    try:
        return version("circus-web")
    except PackageNotFoundError:  # pragma: no cover - only in a source checkout
        return "0+unknown"


@dataclass
class Options:
    """The parsed command line."""

    host: str
    port: int
    fd: int | None
    nodes: list[NodeSpec]
    multicast: str | None
    ssh: str | None
    ssh_keyfile: str | None
    log_level: str
    log_output: str
    certfile: str | None
    keyfile: str | None
    users_file: str | None
    token_file: str | None
    cookie_secret_file: str | None
    audit_endpoint: str | None
    poll_interval: float
    curve: CurveKeys | None = None
    stats_curve: CurveKeys | None = None
    """``curve`` with circusd-stats's server key (``--curve-stats-server-key``), if given."""
    """CURVE keys for every node's endpoints (circusd's and circusd-stats')."""


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="A live web console for circusd.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; any other than "
                             "loopback needs --users-file or --token-file)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    parser.add_argument("--fd", type=int, default=None,
                        help="serve on this inherited listening socket (circusd's "
                             "$(circus.sockets.NAME)) instead of --host/--port")
    parser.add_argument("--endpoint", action="append", default=[], metavar="ENDPOINT",
                        help="a circusd control endpoint; repeat for several. "
                             "CTL,pubsub=EP,stats=EP overrides its channels, "
                             "stats_key=FILE the public key of a circusd-stats "
                             "serving CURVE with its own key "
                             f"(default: {DEFAULT_ENDPOINT})")
    parser.add_argument("--endpoints-file", metavar="FILE",
                        help="more endpoints, one a line (# comments)")
    parser.add_argument("--multicast", metavar="udp://GROUP:PORT",
                        help="also find circusd daemons by multicast discovery")
    add_ssh(parser)
    add_curve(parser)
    parser.add_argument(
        "--curve-stats-server-key", metavar="FILE", default=None,
        help="circusd-stats's public key, when it serves with a key pair of its own "
        "(default: --curve-server-key)")
    add_log_level(parser)
    parser.add_argument("--log-output", default="-",
                        help="log file, or - for stdout (default), as upstream")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="the private key of --certfile (PEM)")
    parser.add_argument("--users-file", metavar="FILE",
                        help="NAME ROLE HASH lines (see --hash-password); turns login on")
    parser.add_argument("--token-file", metavar="FILE",
                        help="ROLE TOKEN lines for Authorization: Bearer clients")
    parser.add_argument("--cookie-secret-file", metavar="FILE",
                        help="sign cookies with this file's bytes, so sessions survive "
                             "a restart (default: a random secret at each start)")
    parser.add_argument("--audit-endpoint", metavar="ENDPOINT",
                        help="also publish each action on this ZeroMQ PUB endpoint "
                             "(topic circushttpd.audit)")
    parser.add_argument("--poll-interval", type=seconds_type(), default=1.0,
                        help="seconds between two polls of each circusd (default: %(default)s)")
    parser.add_argument("--hash-password", action="store_true",
                        help="read a password on stdin, print its hash for --users-file, exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    return parser


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fd_address(fd: int) -> str:
    """The address an inherited socket listens on; ValueError if it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"--fd {fd}: not a socket ({exc.strerror or exc})") from None
    try:
        name = sock.getsockname()
    finally:
        sock.detach()  # the fd is the server's, not ours
    if isinstance(name, tuple):
        return str(name[0])
    return "127.0.0.1"  # a unix socket: local only


def parse_args(argv: list[str] | None = None) -> Options | str:
    """The options, or (with ``--hash-password``) the hash line to print."""
    parser = _parser()
    ns = parser.parse_args(argv)
    check_ssh(parser, ns)
    curve = curve_keys(parser, ns)
    stats_curve = None
    if ns.curve_stats_server_key:
        if curve is None:
            parser.error("--curve-stats-server-key needs --curve-server-key and --curve-key")
        try:
            stats_key = read_key_file(ns.curve_stats_server_key)
        except KeyFileError as exc:
            parser.error(str(exc))
        stats_curve = dataclasses.replace(curve, server_public=stats_key.public)
    if ns.hash_password:
        import getpass

        from circus.web._auth import hash_password
        password = (getpass.getpass("password: ") if sys.stdin.isatty()
                    else sys.stdin.readline().rstrip("\n"))
        if not password:
            parser.error("--hash-password: empty password")
        return hash_password(password)
    texts = list(ns.endpoint)
    if ns.endpoints_file:
        try:
            lines = Path(ns.endpoints_file).read_text().splitlines()
        except OSError as exc:
            parser.error(f"--endpoints-file {ns.endpoints_file}: {exc.strerror or exc}")
        texts += [line.strip() for line in lines if line.strip()
                  and not line.strip().startswith("#")]
    if not texts and not ns.multicast:
        texts = [DEFAULT_ENDPOINT]
    nodes: list[NodeSpec] = []
    for text in texts:
        try:
            nodes.append(NodeSpec.parse(text))
        except ValueError as exc:
            parser.error(str(exc))
    if ns.multicast:
        from circus.web._discovery import parse_multicast
        try:
            parse_multicast(ns.multicast)
        except ValueError as exc:
            parser.error(str(exc))
    if bool(ns.certfile) != bool(ns.keyfile):
        parser.error("--certfile and --keyfile go together")
    if not 0 < ns.port < 65536:
        parser.error(f"--port {ns.port}: expected 1-65535")
    return Options(host=ns.host, port=ns.port, fd=ns.fd, nodes=nodes, multicast=ns.multicast,
                   ssh=ns.ssh, ssh_keyfile=ns.ssh_keyfile, log_level=ns.log_level,
                   log_output=ns.log_output, certfile=ns.certfile, keyfile=ns.keyfile,
                   users_file=ns.users_file, token_file=ns.token_file,
                   cookie_secret_file=ns.cookie_secret_file, audit_endpoint=ns.audit_endpoint,
                   poll_interval=ns.poll_interval, curve=curve, stats_curve=stats_curve)


def configure_logging(options: Options) -> None:
    """Log to stdout or the ``--log-output`` file; OSError if that file cannot be opened."""
    handler: logging.Handler
    if options.log_output == "-":
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = logging.FileHandler(options.log_output)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s[%(process)d] "
                                           "[%(levelname)s] %(message)s"))
    root = logging.getLogger("circus.web")
    root.addHandler(handler)
    root.setLevel(options.log_level.upper())
    # tornado's access log stays quiet unless asked for with debug.
    logging.getLogger("tornado").addHandler(handler)
    logging.getLogger("tornado").setLevel("DEBUG" if options.log_level == "debug"
                                          else "WARNING")


__all__ = ["PROG", "Options", "configure_logging", "fd_address", "is_loopback",
           "package_version", "parse_args"]
