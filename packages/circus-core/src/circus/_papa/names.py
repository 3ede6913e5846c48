"""Papa names as upstream spelled them: ``circus.<watcher>.<wid>``, ``circus.<socket>``."""

from __future__ import annotations

_FORBIDDEN = (":", "*", " ")


def check_name(kind: str, name: str) -> None:
    """Refuse a watcher or socket name papa cannot carry (``:``, ``*``, space).

    Raises:
        ValueError: the name has such a character.
    """
    bad = [char for char in _FORBIDDEN if char in name]
    if bad:
        raise ValueError(f"{kind} {name!r} cannot use papa: its name contains {bad[0]!r}")


def process_name(watcher: str, wid: int) -> str:
    """The papa name of process ``wid`` of ``watcher``."""
    return f"circus.{watcher}.{wid}".lower()


def process_pattern(watcher: str) -> str:
    """The papa pattern matching every process of ``watcher``."""
    return f"circus.{watcher}.*".lower()


def wid_of(watcher: str, name: str) -> int | None:
    """The wid in papa name ``name`` if it is a process of ``watcher``, else None."""
    prefix = f"circus.{watcher}.".lower()
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    return int(rest) if rest.isdigit() else None


def socket_name(socket: str) -> str:
    """The papa name of circus socket ``socket``."""
    return f"circus.{socket}".lower()


def socket_reference(socket: str) -> str:
    """What ``$(circus.sockets.<socket>)`` becomes for papa: the fd papa hands over."""
    return f"$(socket.{socket_name(socket)}.fileno)"


def partial_key(process: str, stream: str) -> str:
    """The papa value holding the unfinished last line of papa process ``process``."""
    return f"{process}.{stream}.partial"


def partial_pattern(watcher: str) -> str:
    """The papa value pattern matching every unfinished line of ``watcher``'s processes."""
    return f"circus.{watcher}.*".lower()


def numprocesses_key(watcher: str) -> str:
    """The papa value holding ``numprocesses`` of ``watcher`` (and the config's value)."""
    return f"circus.{watcher}.numprocesses".lower()
