"""``circusctl keygen NAME``: write a CURVE key pair, without talking to any daemon."""

from __future__ import annotations

from circus.client import ROLES, KeyFileError, write_key_pair
from circus.client.cli import OneLineParser
from circus.ctl._run import EXIT_FAILED, EXIT_OK, print_error


def keygen(argv: list[str]) -> int:
    """Parse ``keygen``'s arguments, write ``NAME.key`` and ``NAME.key_secret``; exit code."""
    parser = OneLineParser(
        prog="circusctl keygen",
        description="Write a CURVE key pair: NAME.key (public: give it to the other side) "
        "and NAME.key_secret (keep it private, mode 0600). For circusd, copy a client's "
        "NAME.key into the curve_authorized_keys directory; the role comes from --role "
        "or from a name ending in .admin, .operator or .reader.",
    )
    parser.add_argument("name", metavar="NAME", help="the key's name (a plain file name)")
    parser.add_argument("--dir", default=".", metavar="DIR",
                        help="where to write the files (default: the current directory)")
    parser.add_argument("--role", choices=ROLES, default=None,
                        help="write this role in the key's metadata")
    ns = parser.parse_args(argv)
    try:
        public, secret = write_key_pair(ns.dir, ns.name, ns.role)
    except KeyFileError as exc:
        print_error(f"error: {exc}")
        return EXIT_FAILED
    print(f"public key: {public}")
    print(f"secret key: {secret}")
    return EXIT_OK
