"""The JSON shapes of the control channel's requests and replies, and of events.

They are ``TypedDict`` classes: type checkers see the documented keys, and at run
time every reply is the plain ``dict`` that ``json.loads`` made, so
``client.call("list", name="web")["pids"]`` works as it did upstream.

Every key is optional (``total=False``) because the client checks only that
a reply is a JSON object: which keys it carries depends on the command, its
properties and the daemon (ours adds a few, upstream's lacks them), and
``status NAME`` puts the watcher's state where other replies say ``"ok"``.
mypy still allows ``reply["pids"]``; ``reply.get("pids")`` says the key may
be absent. A key the shapes do not list (a hook's, a newer daemon's) reads
with ``.get()``, typed ``object``.

Kept out of ``import circus.client``'s path (``circus.client`` loads this
module on first use of a name, the clients only when type checking): creating
the classes costs circusctl's start-up about a millisecond.
"""

from __future__ import annotations

from typing import TypeAlias, TypedDict

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""A value JSON can carry, as ``json.loads`` returns it."""

JSONObject: TypeAlias = "dict[str, JSONValue]"
"""A JSON object, as ``json.loads`` returns it."""


class Request(TypedDict, total=False):
    """A control request: ``{"command": ..., "properties": {...}, "id": ...}``.

    ``msg_type: "cast"`` asks for no reply; a request without ``id`` gets
    ``"id": null`` back.
    """

    command: str
    properties: dict[str, object]
    id: str
    msg_type: str


class Reply(TypedDict, total=False):
    """The keys every reply may carry; the reply to a command not typed more precisely.

    ``status`` is ``"ok"``, ``"error"``, or for ``status NAME`` the watcher's
    state. An error reply also has ``errno``, ``reason`` and ``tb``.
    """

    status: str
    time: float
    id: str | None
    errno: int
    reason: str
    tb: str | None


class ListReply(Reply, total=False):
    """``list``: the watcher names (lowercased, sorted), or with ``name`` its pids.

    ``health`` (our circusd, only for a watcher with a ``check``) gives each
    pid's readiness by pid (a string key): ``starting``, ``ready`` or
    ``unhealthy``.
    """

    watchers: list[str]
    pids: list[int]
    health: dict[str, str]


class BackoffSlot(TypedDict, total=False):
    """One process slot waiting out a crash-loop backoff (``status`` with ``verbose``)."""

    wid: int
    quick_exits: int
    spawn_failures: int
    delay: float
    retry_in: float


class DroppedOutput(TypedDict, total=False):
    """Output one stream could not write, a full disk say (``status`` with ``verbose``)."""

    dropped_bytes: int
    dropped_chunks: int
    error: str | None


class StatusReply(Reply, total=False):
    """``status``: ``statuses`` by watcher name, or with ``name`` the state in ``status``.

    ``backoff`` (our circusd, with ``verbose: true``) lists the waiting slots
    of each watcher that has any; ``health`` (the same) gives each process's
    readiness by pid, ``starting``, ``ready`` or ``unhealthy`` (a watcher
    without a ``check`` has its processes ``ready``): by watcher name then
    pid, or with ``name`` that watcher's by pid. ``output_dropped`` (the
    same) is by watcher then stream (``stdout``/``stderr``), for the watchers
    whose streams dropped output because writes failed.
    """

    statuses: dict[str, str]
    backoff: dict[str, list[BackoffSlot]]
    health: dict[str, dict[str, str]] | dict[str, str]
    output_dropped: dict[str, dict[str, DroppedOutput]]


class NumProcessesReply(Reply, total=False):
    """``numprocesses``: the count; with ``name`` also that name, as sent."""

    numprocesses: int
    watcher_name: str


class NumWatchersReply(Reply, total=False):
    """``numwatchers``: how many watchers circusd runs."""

    numwatchers: int


class OptionsReply(Reply, total=False):
    """``options``, ``get`` and ``globaloptions``: option values by name."""

    options: dict[str, JSONValue]


class SocketInfo(TypedDict, total=False):
    """One socket of ``listsockets``: ``host`` and ``port``, or ``path`` for a unix socket."""

    fd: int
    name: str
    backlog: int
    host: str
    port: int
    path: str


class SocketsReply(Reply, total=False):
    """``listsockets``: the sockets circusd holds, sorted by fd."""

    sockets: list[SocketInfo]


class ProcessInfo(TypedDict, total=False):
    """What ``stats`` and ``dstats`` tell of one process.

    A field the daemon may not read (access denied) is the string ``"N/A"``,
    hence the ``| str``. ``started``, ``wid`` and ``children`` come with
    ``stats``; an ``extended_stats`` hook may add keys of its own.
    """

    pid: int
    cmdline: str
    username: str
    nice: int | str
    mem_info1: str
    mem_info2: str
    cpu: float | str
    mem: float | str
    ctime: str
    create_time: float | str
    age: float | str
    started: float
    wid: int
    children: list[ProcessInfo]


class DStatsReply(Reply, total=False):
    """``dstats``: circusd's own process."""

    info: ProcessInfo


class StatsReply(Reply, total=False):
    """``stats`` without ``name``: ``infos[watcher][pid]`` for every process.

    Pids are strings (JSON object keys). A process that vanished meanwhile is
    the string ``"No such process (stopped?)"``.
    """

    infos: dict[str, dict[str, ProcessInfo | str]]


class WatcherStatsReply(Reply, total=False):
    """``stats`` with ``name``: ``info[pid]`` for each process of that watcher."""

    name: str
    info: dict[str, ProcessInfo | str]


class ProcessStatsReply(Reply, total=False):
    """``stats`` with ``name`` and ``process``: that process alone."""

    process: int
    info: ProcessInfo | str


class ScaleReply(Reply, total=False):
    """``incr``/``decr``: the new count with ``waiting``; ``singleton`` if nothing changed."""

    numprocesses: int
    singleton: bool


class ActionInfo(TypedDict, total=False):
    """The pids a watcher-level ``start``/``restart``/``reload`` with ``waiting`` touched."""

    started: list[int]
    stopped: list[int]
    kept: list[int]


class ActionReply(Reply, total=False):
    """``start``/``stop``/``restart``/``reload`` of one watcher, with ``waiting``.

    ``info`` is None for ``stop``; without ``waiting``, or for several
    watchers, the reply is a bare ``ok``.
    """

    info: ActionInfo | None


class IPythonReply(Reply, total=False):
    """``ipython``: the kernel's connection file, or ``False`` and why in ``msg``."""

    shell: str | bool
    msg: str | None


class OutputLine(TypedDict):
    """One line a process wrote: a ``watcher.<name>.output`` event, an item of ``tail``.

    ``data`` is the line with its newline (the last words of a process may
    lack it), UTF-8 with invalid bytes replaced; ``stream`` is ``stdout`` or
    ``stderr``. Only watchers with ``publish_output`` (circusd of this project)
    publish and keep their lines.
    """

    pid: int
    stream: str
    data: str
    time: float


class TailReply(Reply, total=False):
    """``tail`` (ours): the last ``lines`` lines of a watcher's output, oldest first."""

    lines: list[OutputLine]


class VersionReply(Reply, total=False):
    """``version`` (ours): the version of the circus-core that runs the daemon."""

    version: str


class EventPayload(TypedDict, total=False):
    """The JSON body of an event on circusd's pubsub channel.

    Every event has ``time``. ``spawn``, ``reap`` and ``kill`` name the
    process (``reap`` adds ``exit_code``, minus the signal number if a signal
    ended it); ``hook_success``/``hook_failure`` the hook (and the ``error``);
    ``updated`` (ours) the option ``key``; ``backoff`` (ours) the slot;
    ``output`` (ours) is an :class:`OutputLine`; ``ready`` (ours) names the
    process whose probe passed, ``unhealthy`` (ours) the process whose probe
    failed ``failures`` times in a row, with the probe's ``output``. A body
    that is not a JSON object arrives wrapped as ``{"data": body}``.
    """

    time: float
    process_pid: int | None
    exit_code: int
    name: str
    error: str
    key: str
    wid: int
    delay: float
    quick_exits: int
    spawn_failures: int
    pid: int
    stream: str
    data: JSONValue
    output: str
    failures: int


Event: TypeAlias = "tuple[str, EventPayload]"
"""One event as the subscribers yield it: ``(topic, payload)``."""
