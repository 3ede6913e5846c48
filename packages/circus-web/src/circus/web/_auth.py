"""Who may use the console: users, password hashes, sessions, login throttling.

Passwords are stored as scrypt hashes (``hashlib.scrypt``, standard library,
so no new dependency): ``scrypt$N$r$p$salt$hash`` with base64 salt and hash.
A users file has one ``NAME ROLE HASH`` line per user; ROLE is ``admin``
(may act) or ``viewer`` (sees everything, changes nothing). A token file
holds one secret per line for scripts (``Authorization: Bearer <token>``),
each line ``ROLE TOKEN``.

Sessions live in this process only: a random id in a signed cookie maps to
the user here, so logout and expiry really end them, and a restart of
circushttpd logs everyone out.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class Role(enum.Enum):
    """What a logged-in user may do."""

    ADMIN = "admin"    # everything, actions included
    VIEWER = "viewer"  # read-only: every page and stream, no action


class AuthConfigError(ValueError):
    """A users or token file that cannot be used; the message names the file and line."""


def hash_password(password: str) -> str:
    """The storable scrypt hash of ``password`` (a fresh random salt each call)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, maxmem=64 * 1024 * 1024)
    return "$".join(("scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a :func:`hash_password` result)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), maxmem=64 * 1024 * 1024,
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _role(text: str, where: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise AuthConfigError(f"{where}: role must be admin or viewer, got {text!r}") from None


@dataclass(frozen=True)
class User:
    """One account of a users file."""

    name: str
    role: Role
    password_hash: str


def load_users(path: Path) -> dict[str, User]:
    """Read a users file (``NAME ROLE HASH`` lines; ``#`` comments, blank lines ignored).

    Raises:
        AuthConfigError: unreadable file or a malformed line, named by file and line.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise AuthConfigError(f"users file {path}: {exc.strerror or exc}") from None
    users: dict[str, User] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"users file {path}, line {number}"
        fields = line.split()
        if len(fields) != 3:
            raise AuthConfigError(f"{where}: expected NAME ROLE HASH")
        name, role, hashed = fields
        if not hashed.startswith("scrypt$") or hashed.count("$") != 5:
            raise AuthConfigError(f"{where}: the hash is not a circushttpd --hash-password "
                                  "hash")
        users[name] = User(name, _role(role, where), hashed)
    if not users:
        raise AuthConfigError(f"users file {path}: no user in it")
    return users


def load_tokens(path: Path) -> dict[str, Role]:
    """Read a token file (``ROLE TOKEN`` lines) into ``{token: role}``.

    Raises:
        AuthConfigError: unreadable, malformed, or a token shorter than 16 characters.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise AuthConfigError(f"token file {path}: {exc.strerror or exc}") from None
    tokens: dict[str, Role] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"token file {path}, line {number}"
        fields = line.split()
        if len(fields) != 2:
            raise AuthConfigError(f"{where}: expected ROLE TOKEN")
        if len(fields[1]) < 16:
            raise AuthConfigError(f"{where}: a token needs at least 16 characters")
        tokens[fields[1]] = _role(fields[0], where)
    if not tokens:
        raise AuthConfigError(f"token file {path}: no token in it")
    return tokens


@dataclass
class Session:
    """A logged-in browser."""

    user: str
    role: Role
    expires: float


class Authenticator:
    """Checks credentials, keeps sessions, throttles failed logins per client address.

    ``users`` empty and ``tokens`` empty means authentication is off: every
    request acts as the ``admin`` user ``local`` (allowed on loopback only,
    which the command line enforces).
    """

    def __init__(self, users: dict[str, User], tokens: dict[str, Role],
                 session_seconds: float = 12 * 3600, max_failures: int = 5,
                 failure_window: float = 60.0) -> None:
        self.users = users
        self.tokens = tokens
        self.session_seconds = session_seconds
        self.max_failures = max_failures
        self.failure_window = failure_window
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}

    @property
    def enabled(self) -> bool:
        """Whether anyone has to log in."""
        return bool(self.users or self.tokens)

    def throttled(self, client: str) -> bool:
        """Whether ``client`` failed too often lately to try again now."""
        now = time.monotonic()
        recent = self._failures.get(client)
        if recent is None:
            return False
        while recent and recent[0] < now - self.failure_window:
            recent.popleft()
        return len(recent) >= self.max_failures

    def login(self, client: str, name: str, password: str) -> str | None:
        """A new session id for good credentials, else ``None`` (and a failure noted)."""
        user = self.users.get(name)
        # Hash even for an unknown name so timing does not tell which names exist.
        stored = user.password_hash if user else hash_password("not-a-user")
        if user is not None and verify_password(password, stored):
            self._failures.pop(client, None)
            sid = secrets.token_urlsafe(32)
            self._sessions[sid] = Session(user.name, user.role,
                                          time.monotonic() + self.session_seconds)
            return sid
        self._failures.setdefault(client, deque()).append(time.monotonic())
        return None

    def session(self, sid: str | None) -> Session | None:
        """The live session of ``sid``, if any."""
        if not sid:
            return None
        found = self._sessions.get(sid)
        if found is None:
            return None
        if found.expires < time.monotonic():
            del self._sessions[sid]
            return None
        return found

    def token(self, bearer: str) -> Session | None:
        """The pseudo-session of an API token, if it is one of ours."""
        for token, role in self.tokens.items():
            if hmac.compare_digest(token, bearer):
                return Session(f"token:{token[:4]}…", role, float("inf"))
        return None

    def logout(self, sid: str | None) -> None:
        """End the session ``sid`` (nothing if it is unknown)."""
        if sid:
            self._sessions.pop(sid, None)
