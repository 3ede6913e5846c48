"""CURVE on circusd's control and event channels: keys, the ZAP handler, roles.

``[circus] curve_secret_key`` is circusd's key pair (a ``.key_secret`` file);
``curve_authorized_keys`` a directory of client public keys (``*.key``), one
file per client. A client's role is the ``role`` of the file's metadata, else
the last dotted part of its name (``top.reader.key``); a file with neither,
or with a role that is not one of admin, operator, reader, is skipped with a
warning. circusd's own public key is an admin's: the helpers circusd launches
(circusd-stats, plugins, circushttpd) authenticate with it, and whoever can
read the secret key file can impersonate circusd anyway.

Why pyzmq's :class:`~zmq.auth.thread.ThreadAuthenticator`: the handshakes are
checked on its thread, so reading the key directory never blocks the loop.
The directory is read again at each handshake (files unchanged since the last
read are not parsed again), so adding or removing a key file takes effect for
the next connection, without a restart. The ZAP handler sets the ZMTP
User-Id to ``ROLE/NAME``; the controller reads it from each request's frame,
so every request is judged by the key of the connection it came on.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import zmq

from circus.commands._roles import ADMIN, OPERATOR, READER, Caller
from circus.errors import CircusError

if TYPE_CHECKING:
    from zmq.auth.thread import ThreadAuthenticator

logger = logging.getLogger("circus")

ROLES = (ADMIN, OPERATOR, READER)
ZAP_DOMAIN = b"circus"
SELF_NAME = "circusd"
"""The key name circusd's own key pair gets in the log and in audit events."""

_ROLE_LINE = re.compile(r'^\s*role\s*=\s*"?([^"\s]*)"?\s*$', re.MULTILINE)


@dataclass(frozen=True)
class ServerKeys:
    """circusd's key pair and where the client keys are."""

    public: bytes
    secret: bytes = field(repr=False)
    authorized_dir: str


def load_server_keys(secret_key_file: str, authorized_dir: str) -> ServerKeys:
    """Read ``curve_secret_key`` and check ``curve_authorized_keys``.

    Raises:
        CircusError: naming the file or directory that is missing or wrong
            (never the key material).
    """
    import zmq.auth  # here: circusd without CURVE never pays for importing it

    if not zmq.has("curve"):
        raise CircusError("curve_secret_key is set but this libzmq has no CURVE support")
    try:
        public, secret = zmq.auth.load_certificate(secret_key_file)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CircusError(f"[circus] curve_secret_key {secret_key_file}: cannot read a "
                          f"key pair: {reason}") from None
    if secret is None:
        raise CircusError(f"[circus] curve_secret_key {secret_key_file}: the file holds no "
                          "secret key (give the .key_secret file of 'circusctl keygen')")
    if not os.path.isdir(authorized_dir):
        raise CircusError(f"[circus] curve_authorized_keys {authorized_dir}: not a directory")
    return ServerKeys(public, secret, authorized_dir)


def secure_server(sock: zmq.Socket[bytes], keys: ServerKeys) -> None:
    """Make ``sock`` a CURVE server checked by the ZAP handler; call before ``bind``."""
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)


def caller_of(user_id: object) -> Caller | None:
    """The caller a frame's User-Id names; None for a frame no ZAP handler saw."""
    if not isinstance(user_id, str) or "/" not in user_id:
        return None
    role, _, name = user_id.partition("/")
    return Caller(role, name)


def key_role(path: str, text: str) -> str | None:
    """The role of the key file at ``path`` holding ``text``: its metadata, else its name."""
    match = _ROLE_LINE.search(text)
    if match:
        return match.group(1)
    stem = os.path.basename(path)[: -len(".key")]
    _, dot, suffix = stem.rpartition(".")
    return suffix if dot and suffix in ROLES else None


class KeyRing:
    """The authorized client keys: Z85 public key → ``ROLE/NAME``, read from the directory."""

    def __init__(self, keys: ServerKeys) -> None:
        self.keys = keys
        self._own = {keys.public: f"{ADMIN}/{SELF_NAME}"}
        # path → (stat signature, (public key, user id) or None for a skipped file)
        self._files: dict[str, tuple[tuple[int, int], tuple[bytes, str] | None]] = {}

    def scan(self) -> dict[bytes, str]:
        """Read the directory again (changed files only); the key → User-Id map."""
        try:
            names = sorted(os.listdir(self.keys.authorized_dir))
        except OSError as exc:
            logger.error("curve_authorized_keys %s: cannot list it: %s",
                         self.keys.authorized_dir, exc.strerror)
            return dict(self._own)
        files: dict[str, tuple[tuple[int, int], tuple[bytes, str] | None]] = {}
        for name in names:
            if not name.endswith(".key"):
                continue
            path = os.path.join(self.keys.authorized_dir, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            signature = (stat.st_mtime_ns, stat.st_size)
            known = self._files.get(path)
            files[path] = known if known and known[0] == signature else (signature,
                                                                        self._read(path))
        self._files = files
        found = dict(self._own)
        for _, entry in files.values():
            if entry is not None:
                found.setdefault(*entry)
        return found

    def _read(self, path: str) -> tuple[bytes, str] | None:
        import zmq.auth

        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(64 * 1024)
            public, _ = zmq.auth.load_certificate(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            logger.warning("curve_authorized_keys: skipped %s: not a public key file (%s)",
                           path, exc)
            return None
        role = key_role(path, text)
        if role not in ROLES:
            logger.warning("curve_authorized_keys: skipped %s: %s (write role = admin, "
                           "operator or reader in its metadata, or name it NAME.ROLE.key)",
                           path, "no role" if role is None else f"unknown role {role!r}")
            return None
        name = os.path.basename(path)[: -len(".key")]
        return public, f"{role}/{name}"


class _Provider:
    """The credentials callback of the ZAP handler (``configure_curve_callback``)."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def callback(self, domain: str, key: bytes) -> bool:
        known = key in self.ring.scan()
        if not known:
            # Only the public key: it identifies the client and is no secret.
            logger.warning("CURVE: refused a client with an unknown key %s", key.decode())
        return known


def start_authenticator(context: zmq.Context[zmq.Socket[bytes]],
                        keys: ServerKeys) -> ThreadAuthenticator:
    """Start the ZAP handler of ``context`` for the authorized keys of ``keys``."""
    from zmq.auth.thread import ThreadAuthenticator
    from zmq.utils import z85

    ring = KeyRing(keys)
    ring.scan()  # warn about bad key files at start-up, not at the first client

    class RoleAuthenticator(ThreadAuthenticator):
        """pyzmq's authenticator, whose User-Id is the key's ``ROLE/NAME``."""

        def curve_user_id(self, client_public_key: bytes) -> str:
            return ring.scan().get(z85.encode(client_public_key), "")

    auth = RoleAuthenticator(context, log=logging.getLogger("circus.zap"))
    auth.start()
    auth.configure_curve_callback(ZAP_DOMAIN.decode(), _Provider(ring))
    return auth
