"""Who may run what: the roles of CURVE clients.

With CURVE on, every request carries its client's role (from the key file
circusd accepted the client with). ``admin`` may run everything. ``operator``
may drive the watchers that exist (start, stop, restart, reload, incr, decr,
signal, kill, ``set`` of the options that do not change what runs or as whom)
but may not add, rm, reload the config, open a shell, or quit. ``reader`` may
only query.

Which ``set`` keys an operator may change is read from the option table: an
option whose live kind is ``spawn`` (cmd, args, env, uid, rlimits...),
``hooks`` (code circusd imports) or ``stream`` (a stream class circusd
imports) is an admin's, so a new option is classified where it is declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from circus.config import WATCHER_OPTIONS
from circus.config._keys import route_key
from circus.config._options import WATCHER_COMPOUND

ADMIN = "admin"
OPERATOR = "operator"
READER = "reader"

QUERIES = frozenset({
    "list", "status", "numwatchers", "numprocesses", "globaloptions", "listsockets",
    "options", "get", "dstats", "stats", "tail", "listen",
})
"""Commands that change nothing: every role may run them."""

OPERATIONS = frozenset({
    "start", "stop", "restart", "reload", "incr", "decr", "signal", "kill", "set",
    "publish_action",
})
"""Commands an operator may run besides the queries (``set`` only for some options)."""

# Live kinds of options an operator may not set: they decide what runs, as whom,
# or which Python code circusd imports.
_ADMIN_KINDS = frozenset({"spawn", "hooks", "stream"})


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the role and the key name circusd's ZAP handler found."""

    role: str
    name: str


def _admin_key(key: str) -> bool:
    route = route_key(str(key).strip().lower())
    option = WATCHER_OPTIONS.get(route.attr) or WATCHER_COMPOUND.get(route.attr)
    return option is not None and option.live in _ADMIN_KINDS


def refusal(caller: Caller, command: str, properties: Mapping[str, object]) -> str | None:
    """Why ``caller`` may not run ``command`` with ``properties``; None when it may."""
    role = caller.role
    if role == ADMIN or command in QUERIES:
        return None
    who = f"key {caller.name!r} has role {role!r}"
    if role != OPERATOR:
        return f"permission denied: {who}, which may only run queries, not {command!r}"
    if command not in OPERATIONS:
        return f"permission denied: {who}, which may not run {command!r} (admin only)"
    if command == "set":
        options = properties.get("options")
        keys = sorted(str(key) for key in options) if isinstance(options, Mapping) else []
        denied = [key for key in keys if _admin_key(key)]
        if denied:
            return (f"permission denied: {who}, which may not set {', '.join(denied)} "
                    "(options that change what runs, as whom, or which code circusd "
                    "imports are admin only)")
    return None
