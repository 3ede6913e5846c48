"""The pidfile: one live circusd per file.

A pidfile naming a live process refuses the start; a stale one (its pid is
gone) is replaced. On exit the file is removed only if it still holds our pid,
so a second instance that lost the race never deletes the winner's file.
"""

from __future__ import annotations

import contextlib
import os

from circus.errors import CircusError


class PidfileError(CircusError):
    """The pidfile names a running process, or cannot be written."""


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PidfileError(f"cannot read pidfile {path}: {exc.strerror}") from exc
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pidfile:
    """Writes our pid to ``path`` and removes it again on :meth:`unlink`."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.pid: int | None = None

    def create(self, pid: int) -> None:
        """Write ``pid``; raises PidfileError if another live process owns the file."""
        old = _read_pid(self.path)
        if old is not None and old != pid and _alive(old):
            raise PidfileError(
                f"pidfile {self.path} names pid {old}, which is running: "
                "is another circusd already using it? Stop it or choose another --pidfile."
            )
        directory = os.path.dirname(self.path)
        tmp = f"{self.path}.{pid}.tmp"
        try:
            with open(tmp, "w") as handle:
                handle.write(f"{pid}\n")
            os.replace(tmp, self.path)  # atomic: readers never see a half-written pid
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise PidfileError(
                f"cannot write pidfile {self.path}: {exc.strerror} (directory {directory})"
            ) from exc
        self.pid = pid

    def unlink(self) -> None:
        """Remove the file if it still holds our pid."""
        if self.pid is None:
            return
        with contextlib.suppress(OSError, PidfileError):
            if _read_pid(self.path) == self.pid:
                os.unlink(self.path)
        self.pid = None
