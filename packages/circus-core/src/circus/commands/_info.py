"""Read-only commands about watchers and the daemon: list, status, options...

All of them answer synchronously from in-memory state (no psutil, no I/O), so
they take the controller's fast path. Reply keys are upstream's exactly.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, TypedDict

from circus.errors import MessageError

from ._props import Props
from ._registry import JSONValue, ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

GLOBAL_OPTIONS = ("endpoint", "stats_endpoint", "pubsub_endpoint", "check_delay",
                  "multicast_endpoint")


@command("list")
def list_(arbiter: Arbiter, props: Props) -> ReplyFields:
    """List the watchers (lowercased, sorted), or the pids of one watcher."""
    if "name" in props:
        watcher = props.watcher(arbiter)
        # The reaper reports deaths within milliseconds, so our own state is
        # as fresh as psutil's, and costs nothing for 1000s of processes.
        reply: dict[str, object] = {
            "pids": [p.pid for p in watcher.processes.values() if p.is_alive]}
        if watcher.check is not None:
            # Ours, only with a check: upstream's clients read "pids" alone.
            reply["health"] = watcher.health_states()
        return reply
    return {"watchers": sorted(w.name.lower() for w in arbiter.watchers)}


@command("status")
def status(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The state of one watcher, or of every watcher by name.

    Ours: with ``verbose`` true the reply also has ``backoff``, the slots of
    each watcher that wait out a crash-loop backoff (only watchers that have
    some), ``health``, each process's ``starting``/``ready``/``unhealthy``
    by pid (for one watcher; by watcher name, then pid, for all), and
    ``output_dropped``, per watcher and stream the output its stream could
    not write (a full disk; only watchers that dropped some). Without it the
    reply is upstream's, key for key.
    """
    watchers = [props.watcher(arbiter)] if "name" in props else list(arbiter.watchers)
    reply: dict[str, object]
    if "name" in props:
        reply = {"status": watchers[0].status()}
    else:
        reply = {"statuses": {w.name: w.status() for w in watchers}}
    if props.flag("verbose", False):
        reply["backoff"] = {w.name: slots for w in watchers if (slots := w.backoff_slots())}
        if "name" in props:
            reply["health"] = watchers[0].health_states()
        else:
            reply["health"] = {w.name: w.health_states() for w in watchers}
        reply["output_dropped"] = {w.name: drops for w in watchers
                                   if (drops := w.output_dropped())}
    return reply


@command("numwatchers")
def numwatchers(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The number of watchers."""
    return {"numwatchers": len(arbiter.watchers)}


@command("numprocesses")
def numprocesses(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The number of tracked processes, in total or for one watcher."""
    if "name" in props:
        watcher = props.watcher(arbiter)
        return {"numprocesses": len(watcher.processes), "watcher_name": props.raw["name"]}
    return {"numprocesses": sum(len(w.processes) for w in arbiter.watchers)}


@command("version")
def version(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The version of circus-core running this daemon (ours)."""
    # circus/__init__.py holds the version (release tooling and the upgrade
    # proof edit it there). That package always finished importing before any
    # of its modules ran, so it is read, not imported: the commands layer may
    # not import the daemon layer.
    return {"version": str(sys.modules["circus"].__version__)}


@command("globaloptions")
def globaloptions(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The daemon's endpoints and check_delay (all, or the one named by ``option``)."""
    values = {
        "endpoint": arbiter.endpoint,
        "stats_endpoint": arbiter.stats_endpoint,
        "pubsub_endpoint": arbiter.pubsub_endpoint,
        "check_delay": float(arbiter.check_delay),
        "multicast_endpoint": arbiter.multicast_endpoint,
    }
    if "option" in props:
        key = props.text("option")
        if key not in values:
            raise MessageError(f"{key!r} not an existing option")
        return {"options": {key: values[key]}}
    return {"options": values}


@command("listsockets")
def listsockets(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The circus sockets, sorted by file descriptor."""
    sockets = []
    for name, sock in arbiter.sockets.items():
        entry = _socket_entry(str(name), sock)
        if entry is not None:
            sockets.append(entry)
    sockets.sort(key=lambda entry: entry["fd"])
    return {"sockets": sockets}


class _Socket(Protocol):
    """What ``listsockets`` needs of a socket; the other attributes are optional."""

    def fileno(self) -> int: ...


class _SocketKeys(TypedDict):
    fd: int
    name: str


class SocketEntry(_SocketKeys, total=False):
    """One socket of the ``listsockets`` reply: ``path`` for unix sockets, else host/port."""

    backlog: int
    path: str
    host: str
    port: int


def _socket_entry(name: str, sock: _Socket) -> SocketEntry | None:
    # Read what is there and never fail: embedders may pass any object with fileno().
    try:
        fd = int(sock.fileno())
    except Exception:
        return None
    if fd < 0:
        return None  # not bound (the arbiter is stopped)
    entry: SocketEntry = {"fd": fd, "name": str(getattr(sock, "name", name) or name).lower()}
    backlog = getattr(sock, "backlog", None)
    if isinstance(backlog, int):
        entry["backlog"] = backlog
    path = getattr(sock, "path", None)
    if path:
        entry["path"] = str(path)
    else:
        entry["host"] = str(getattr(sock, "host", ""))
        port = getattr(sock, "port", None)
        entry["port"] = port if isinstance(port, int) else 0
    return entry


# -- watcher options -------------------------------------------------------------

# Upstream's option names, each read from the watcher attribute of the same name.
_OPTION_NAMES = (
    "numprocesses", "warmup_delay", "working_dir", "uid", "gid", "send_hup", "stop_signal",
    "stop_children", "shell", "shell_args", "env", "max_retry", "cmd", "args", "respawn",
    "graceful_timeout", "executable", "use_sockets", "priority", "copy_env", "singleton",
    "on_demand", "max_age", "max_age_variance", "close_child_stdin", "close_child_stdout",
    "close_child_stderr",
)
# Ours, added after upstream's (clients ignore keys they do not know).
_EXTRA_NAMES = ("autostart", "copy_path", "retry_in", "backoff", "min_uptime", "umask",
                "virtualenv", "use_papa", "publish_output", "check", "check_interval",
                "check_timeout", "check_retries", "depends_on")


def jsonable(value: object) -> JSONValue:
    """``value`` with everything JSON cannot carry turned into plain data or text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if callable(value):
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if module and qualname:
            return f"{module}.{qualname}"
    return str(value)


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def watcher_options(watcher: Watcher) -> dict[str, JSONValue]:
    """Every option of ``watcher`` by name, as ``options`` and ``get`` report it."""
    options: dict[str, object] = {}
    for name in (*_OPTION_NAMES, *_EXTRA_NAMES):
        if hasattr(watcher, name):
            options[name] = getattr(watcher, name)
    options["stop_signal"] = int(watcher.stop_signal)
    options["graceful_timeout"] = float(watcher.graceful_timeout)
    # Upstream reports (and its `set` expects) whole seconds as integers here.
    for name in ("max_age", "max_age_variance"):
        options[name] = _whole(options[name])
    options["env"] = dict(watcher.env or {})
    options["stdout_stream_conf"] = dict(watcher.stdout_stream or {})
    options["stderr_stream_conf"] = dict(watcher.stderr_stream or {})
    # Free-form keys (plugin settings such as flapping.max_retry) last: they
    # never shadow a real option.
    for key, value in watcher.options.items():
        options.setdefault(str(key), value)
    return {key: jsonable(value) for key, value in options.items()}


@command("options")
def options(arbiter: Arbiter, props: Props) -> ReplyFields:
    """Every option of one watcher, including free-form ones."""
    return {"options": watcher_options(props.watcher(arbiter))}


@command("get")
def get(arbiter: Arbiter, props: Props) -> ReplyFields:
    """The values of the named options of one watcher."""
    watcher = props.watcher(arbiter)
    keys = props.array("keys")
    available = watcher_options(watcher)
    result: dict[str, JSONValue] = {}
    for key in keys:
        if not isinstance(key, str):
            raise MessageError(f"property 'keys': expected a list of option names, got {key!r}")
        if key not in available:
            raise MessageError(f"{key!r} option not found")
        result[key] = available[key]
    return {"options": result}
