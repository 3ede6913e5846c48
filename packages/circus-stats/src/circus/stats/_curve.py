"""CURVE on the stats endpoint: the ZAP handler that admits the authorized keys.

Every key in ``--curve-authorized-keys`` (``*.key`` files, as circusd's
``curve_authorized_keys``) may subscribe, whatever its role: the stats are
read-only. circusd-stats's own key is admitted too, as circusd admits its own.
The directory is read again at each handshake (on the authenticator's thread,
never on the loop), so adding or removing a key needs no restart.
"""

from __future__ import annotations

import logging
import os

import zmq
from circus.client import CurveKeys, KeyFileError, read_key_file
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger("circus.stats")

ZAP_DOMAIN = "circus-stats"


class _AuthorizedKeys:
    """``configure_curve_callback``'s provider: is this Z85 key in the directory?"""

    def __init__(self, own_public: bytes, directory: str) -> None:
        self.own_public = own_public
        self.directory = directory
        self._warned: set[str] = set()

    def keys(self) -> set[bytes]:
        found = {self.own_public}
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            log.error("--curve-authorized-keys %s: cannot list it: %s", self.directory,
                      exc.strerror)
            return found
        for name in names:
            if not name.endswith(".key"):
                continue
            path = os.path.join(self.directory, name)
            try:
                found.add(read_key_file(path).public)
            except KeyFileError as exc:
                if path not in self._warned:  # once per file, not at every handshake
                    self._warned.add(path)
                    log.warning("skipped an authorized key: %s", exc)
        return found

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self.keys()
        if not allowed:
            log.warning("CURVE: refused a stats subscriber with an unknown key %s",
                        key.decode())
        return allowed


def start_authenticator(context: zmq.Context[zmq.Socket[bytes]], keys: CurveKeys,
                        directory: str) -> ThreadAuthenticator:
    """Start the ZAP handler of ``context`` for the stats endpoint.

    Raises:
        NotADirectoryError: ``directory`` is not one (the message names it).
    """
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"--curve-authorized-keys {directory}: not a directory")
    provider = _AuthorizedKeys(keys.public, directory)
    provider.keys()  # warn about bad files at start-up
    auth = ThreadAuthenticator(context, log=logging.getLogger("circus.stats.zap"))
    auth.start()
    auth.configure_curve_callback(ZAP_DOMAIN, provider)
    return auth
