"""``reloadconfig`` for ``[socket:NAME]`` sections: add, remove and rebind sockets.

A socket whose options changed cannot be rebound while processes still hold
the old listening socket (the address is in use), so every watcher using a
changed or removed socket is stopped first, the sockets are swapped, and those
watchers are started again on the new sockets. Watchers that use no touched
socket keep running. The new file may not leave a watcher using a socket it
removes: that is refused before anything changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from circus.errors import CircusError, MessageError
from circus.sockets import CircusSocket, SocketLike, referenced_sockets

if TYPE_CHECKING:
    from circus.config import CircusConfig
    from circus.watcher import Watcher

logger = logging.getLogger("circus")


class SocketHolder(Protocol):
    """What swapping sockets needs of the arbiter (a :class:`~circus.arbiter.Arbiter`)."""

    @property
    def watchers(self) -> Sequence[Watcher]:
        """The arbiter's watchers."""
        ...

    @property
    def sockets(self) -> MutableMapping[str, SocketLike]:
        """The arbiter's sockets by name; changed in place."""
        ...


@dataclass
class SocketPlan:
    """The socket side of a reload, built before anything changes."""

    close: list[str] = field(default_factory=list)  # removed or changed: closed first
    bind: dict[str, CircusSocket] = field(default_factory=dict)  # added or changed

    @property
    def touched(self) -> set[str]:
        """Names of the sockets that a process holding them must let go of."""
        return set(self.close)

    def __bool__(self) -> bool:
        return bool(self.close or self.bind)


def _by_name(items: Iterable[Mapping[str, object]]) -> dict[str, Mapping[str, object]]:
    return {str(item["name"]).lower(): item for item in items}


def _template(value: object) -> str | list[str] | None:
    """A watcher's cmd, args or shell_args as ``referenced_sockets`` reads it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


def plan_sockets(old: CircusConfig | None, new: CircusConfig) -> SocketPlan:
    """Compare the sockets of both configs; refuse a watcher left on a removed socket.

    Raises:
        MessageError: a watcher of the new file uses a socket it does not declare,
            or a socket's options are invalid.
    """
    old_socks = _by_name(old.sockets if old is not None else ())
    new_socks = _by_name(new.sockets)
    result = SocketPlan()
    for name, options in old_socks.items():
        if new_socks.get(name) != options:
            result.close.append(name)
    for name, options in new_socks.items():
        if old_socks.get(name) != options:
            try:
                result.bind[name] = CircusSocket.load_from_config(options)
            except ValueError as exc:
                raise MessageError(f"reloadconfig: [socket:{name}]: {exc}") from None
    for watcher in new.watchers:
        templates = (_template(watcher.get(key)) for key in ("cmd", "args", "shell_args"))
        for used in referenced_sockets(*templates):
            if used not in new_socks:
                raise MessageError(f"reloadconfig: watcher {watcher['name']} uses socket "
                                   f"{used!r}, which {new.path} does not declare")
    return result


def users(arbiter: SocketHolder, names: set[str]) -> list[Watcher]:
    """The arbiter's watchers whose processes get one of the sockets ``names``."""
    return [w for w in arbiter.watchers if names & set(w.socket_names())]


def swap_sockets(arbiter: SocketHolder, steps: SocketPlan) -> list[str]:
    """Close the old sockets and bind the new ones; returns the errors (one per socket).

    Call it with every process that holds a closed socket stopped. A socket
    that cannot be bound is left out (its users then fail to spawn, loudly)
    and reported, instead of undoing the rest of the reload.
    """
    for name in steps.close:
        old = arbiter.sockets.pop(name, None)
        if isinstance(old, CircusSocket):
            old.close()
            logger.info("reloadconfig: socket %s closed", name)
    errors = []
    for name, sock in steps.bind.items():
        try:
            sock.bind_and_listen()
        except (CircusError, OSError) as exc:
            errors.append(str(exc))
            logger.error("reloadconfig: %s", exc)
            continue
        arbiter.sockets[name] = sock
        logger.info("reloadconfig: socket %s bound to %s", name, sock.location)
    return errors
