"""CURVE keys for client sockets: reading key files, writing key pairs, securing a socket.

Key files are ZeroMQ's certificate format (what ``zmq.auth.create_certificates``
writes): ``NAME.key`` holds the public key, ``NAME.key_secret`` the public and
the secret key, each as 40 characters of Z85 text. A ``role`` may be given in the
file's ``metadata`` section. Reading needs only the standard library, so the
command-line tools can check a key file before they import pyzmq.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from circus.client._errors import ClientError

if TYPE_CHECKING:
    import zmq

ROLES = ("admin", "operator", "reader")
"""The roles a key may carry, from the most to the least powerful."""

# zmq.auth quotes the keys but not the metadata values; accept both spellings.
_KEY_LINE = re.compile(r'^\s*(public-key|secret-key|role)\s*=\s*"?([^"\s]*)"?\s*$')
_Z85 = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")


class KeyFileError(ClientError):
    """A CURVE key file is missing, unreadable or not a key file; the text names it."""


@dataclass(frozen=True)
class KeyFile:
    """What one key file holds: its Z85 public key, maybe the secret key and a role."""

    path: str
    public: bytes
    secret: bytes | None = field(default=None, repr=False)
    role: str | None = None


def read_key_file(path: str, *, need_secret: bool = False) -> KeyFile:
    """Read a ZeroMQ certificate file.

    Args:
        path: a ``.key`` or ``.key_secret`` file.
        need_secret: refuse a file without a secret key.

    Raises:
        KeyFileError: the file cannot be read or is no key file (the message
            names the file, never the key material).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KeyFileError(f"CURVE key file {path}: cannot read it: {reason}") from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            values.setdefault(match.group(1), match.group(2))
    public = values.get("public-key", "")
    secret = values.get("secret-key")
    if not _Z85.match(public):
        raise KeyFileError(f"CURVE key file {path}: no valid public-key line (expected a "
                           "file written by 'circusctl keygen')")
    if secret is not None and not _Z85.match(secret):
        raise KeyFileError(f"CURVE key file {path}: the secret-key line is not 40 Z85 "
                           "characters")
    if need_secret and secret is None:
        raise KeyFileError(f"CURVE key file {path}: it holds no secret key (give the "
                           ".key_secret file)")
    role = values.get("role")
    if role is not None and role not in ROLES:
        raise KeyFileError(f"CURVE key file {path}: role {role!r} is none of "
                           f"{', '.join(ROLES)}")
    return KeyFile(path, public.encode(), secret.encode() if secret else None, role)


@dataclass(frozen=True)
class CurveKeys:
    """What a client needs to talk CURVE: the server's public key and its own key pair.

    Build it with :func:`load_curve_keys`; pass it as ``curve=`` to the clients
    and subscribers of :mod:`circus.client`. Its ``repr`` never shows the secret.
    """

    server_public: bytes
    public: bytes
    secret: bytes = field(repr=False)

    def secure(self, sock: zmq.Socket[object]) -> None:
        """Make ``sock`` a CURVE client of the server; call it before ``connect``."""
        import zmq

        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_public)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret)


def load_curve_keys(server_key: str, client_key: str) -> CurveKeys:
    """The keys named by ``--curve-server-key`` and ``--curve-key``.

    Args:
        server_key: a file holding the server's public key (its ``.key`` file;
            the ``.key_secret`` file works too).
        client_key: the client's ``.key_secret`` file.

    Raises:
        KeyFileError: naming the file that is missing or wrong.
    """
    server = read_key_file(server_key)
    client = read_key_file(client_key, need_secret=True)
    assert client.secret is not None  # need_secret
    return CurveKeys(server.public, client.public, client.secret)


def write_key_pair(directory: str, name: str, role: str | None = None) -> tuple[str, str]:
    """Write ``NAME.key`` and ``NAME.key_secret`` in ``directory`` (made if absent).

    Args:
        directory: where the files go.
        name: the key's name; it becomes the client's name in circusd's log.
        role: written in the files' metadata (``admin``, ``operator``, ``reader``).

    Returns:
        The paths of the public and the secret key file.

    Raises:
        KeyFileError: a bad name or role, a file that exists already, or an OS error.
    """
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"key name {name!r}: expected a plain file name")
    if role is not None and role not in ROLES:
        raise KeyFileError(f"role {role!r} is none of {', '.join(ROLES)}")
    public_path = os.path.join(directory, f"{name}.key")
    secret_path = public_path + "_secret"
    for path in (public_path, secret_path):
        if os.path.exists(path):
            raise KeyFileError(f"{path} exists already; remove it or pick another name")
    import zmq

    public, secret = (key.decode() for key in zmq.curve_keypair())
    try:
        os.makedirs(directory, exist_ok=True)
        # pyzmq's create_certificates writes the metadata in the secret file only;
        # the role must be in the public file, which is what circusd reads.
        _write_new(public_path, 0o644, _key_text("Public", public, None, role))
        try:
            _write_new(secret_path, 0o600, _key_text("Secret", public, secret, role))
        except BaseException:
            os.unlink(public_path)
            raise
    except OSError as exc:
        raise KeyFileError(f"cannot write the key pair {name} in {directory}: "
                           f"{exc.strerror or exc}") from None
    return public_path, secret_path


def _key_text(kind: str, public: str, secret: str | None, role: str | None) -> str:
    """A certificate in ZeroMQ's format, as ``zmq.auth.load_certificate`` reads it."""
    lines = [f"#   ZeroMQ CURVE {kind} Certificate, written by circusctl keygen",
             "#   The .key file is public; keep the .key_secret file private.",
             "", "metadata"]
    if role:
        lines.append(f'    role = "{role}"')
    lines += ["curve", f'    public-key = "{public}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


def _write_new(path: str, mode: int, text: str) -> None:
    # O_EXCL: never overwrite a key; the mode is set at creation, before any byte.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)  # the umask may have removed bits of a public file's mode
