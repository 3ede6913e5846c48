"""CommandReloader: restart a watcher when the program its ``cmd`` runs changes on disk.

Every ``loop_rate`` seconds (1; fractions allowed) it lists the watchers
(plugins skipped), reads each one's ``cmd``, resolves its program (the first
word, looked up on ``PATH`` when it has no ``/``, symlinks followed) and
compares the resolved path and modification time with the previous pass.
A change restarts that watcher. The first sighting only records it.

Unlike upstream, a ``cmd`` whose program cannot be found (or is not a file)
is skipped with one debug line, instead of aborting the pass for every
watcher after it; ``skip_dirs`` is not needed.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from typing import Any

from circus.plugins._actions import act
from circus.plugins._base import CircusPlugin
from circus.plugins._options import Options
from circus.plugins._periodic import every
from tornado.ioloop import PeriodicCallback

__all__ = ["CommandReloader"]

log = logging.getLogger("circus.plugins.command_reloader")

Fingerprint = tuple[str, float]


def program_of(cmd: str) -> str | None:
    """The real path of the program ``cmd`` runs, or None if it is not a file."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    if not words:
        return None
    program = words[0]
    found = program if "/" in program else shutil.which(program)
    if found is None:
        return None
    path = os.path.realpath(found)
    return path if os.path.isfile(path) else None


class CommandReloader(CircusPlugin):
    """Restarts watchers whose program file changed."""

    name = "command_reloader"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        self.loop_rate = Options(self._label(), config).number("loop_rate", 1.0, positive=True)
        self.infos: dict[str, Fingerprint] = {}
        self.period: PeriodicCallback | None = None

    def handle_init(self) -> None:
        """Start the periodic check."""
        self.period = every(self, self.loop_rate, self.look_after)

    def handle_stop(self) -> None:
        """Stop the periodic check."""
        if self.period is not None:
            self.period.stop()

    def handle_recv(self, data: list[bytes]) -> None:
        """Events are not used."""

    def fingerprint(self, watcher_name: str) -> Fingerprint | None:
        """(resolved path, mtime) of the watcher's program, or None if it has none."""
        reply = self.call("get", name=watcher_name, keys=["cmd"])
        cmd = (reply.get("options") or {}).get("cmd")
        if not isinstance(cmd, str):
            return None
        path = program_of(cmd)
        if path is None:
            log.debug("%s: cmd %r is not a program file; not watched", watcher_name, cmd)
            return None
        try:
            return path, os.stat(path).st_mtime
        except OSError:
            return None

    def look_after(self) -> None:
        """One pass over every watcher."""
        reply = self.call("list")
        names = [n for n in reply.get("watchers", []) if not n.startswith("plugin:")]
        for gone in set(self.infos) - set(names):
            del self.infos[gone]
        for name in names:
            current = self.fingerprint(name)
            if current is None:
                self.infos.pop(name, None)
                continue
            previous = self.infos.get(name)
            self.infos[name] = current
            if previous is not None and previous != current:
                log.info("%s: %s modified: restarting the watcher", name, current[0])
                act(self, "restart", name=name, reason=f"{current[0]} changed")
