"""Console renderings of replies, line for line what upstream's circusctl prints."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from circus.ctl._style import Style

# For type checkers only: circusctl's start-up creates no reply classes.
if TYPE_CHECKING:
    from circus.client import (
        BackoffSlot,
        DroppedOutput,
        IPythonReply,
        JSONValue,
        NumProcessesReply,
        NumWatchersReply,
        OptionsReply,
        ProcessInfo,
        ScaleReply,
        SocketsReply,
        TailReply,
        VersionReply,
    )

    class ConsoleReply(NumProcessesReply, NumWatchersReply, OptionsReply, SocketsReply,
                       ScaleReply, IPythonReply, TailReply, VersionReply, total=False):
        """A reply as circusctl renders it: the keys of every command it prints.

        ``info`` is ``dstats``'s process, ``stats NAME``'s processes by pid, or
        ``stats NAME PID``'s one process (a string if it vanished). ``health``
        is ``list NAME``'s and ``status NAME``'s states by pid, or
        ``status``'s by watcher then pid (so :class:`ListReply` and
        :class:`StatusReply` are not bases).
        """

        watchers: list[str]
        pids: list[int]
        statuses: dict[str, str]
        backoff: dict[str, list[BackoffSlot]]
        health: dict[str, str] | dict[str, dict[str, str]]
        output_dropped: dict[str, dict[str, DroppedOutput]]
        infos: dict[str, dict[str, ProcessInfo | str]]
        name: str
        process: int
        info: ProcessInfo | dict[str, ProcessInfo | str] | str

Renderer = Callable[["ConsoleReply", Style], str]
"""How a command prints its reply."""

UNKNOWN = "unknown"
"""The health ``list`` prints for a pid its reply's ``health`` does not name."""

_INFOLINE_KEYS = ("pid", "cmdline", "username", "nice", "mem_info1", "mem_info2", "cpu", "mem",
                  "ctime")


def ok(reply: ConsoleReply, style: Style) -> str:
    """The bare acknowledgement most commands print."""
    return "ok"


def render_list(reply: ConsoleReply, style: Style) -> str:
    """Watcher names or pids, comma-joined (a table of names on a TTY).

    A ``health`` key (our circusd, a watcher with a ``check``) puts each
    pid's readiness beside it: ``1234:ready,1235:starting`` (a PID/HEALTH
    table on a TTY).
    """
    if "pids" in reply:
        health = reply.get("health")
        if not isinstance(health, dict):
            return ",".join(str(pid) for pid in reply["pids"])
        rows = [[str(pid), str(health.get(str(pid), UNKNOWN))] for pid in reply["pids"]]
        if style.tty:
            return style.table(["PID", "HEALTH"], rows, painters=[None, "state"])
        return ",".join(f"{pid}:{state}" for pid, state in rows)
    names = [str(name) for name in reply.get("watchers", [])]
    if style.tty:
        return style.table(["WATCHER"], [[name] for name in names])
    return ",".join(names)


def render_status(reply: ConsoleReply, style: Style) -> str:
    """One state, or ``name: state`` lines sorted by name (a table on a TTY).

    With ``status --verbose``, under each watcher: a ``health`` key adds one
    indented ``pid <pid>: <state>`` line per process (by pid), a ``backoff``
    key one line per slot that waits out a crash-loop backoff, and an
    ``output_dropped`` key one line per stream that could not write its
    output. ``health`` is by watcher then pid, or with ``name`` that watcher's
    states by pid; the other two are always by watcher.
    """
    statuses = reply.get("statuses")
    backoff = reply.get("backoff")
    backoff = backoff if isinstance(backoff, dict) else {}
    health = reply.get("health")
    health = health if isinstance(health, dict) else {}
    dropped = reply.get("output_dropped")
    dropped = dropped if isinstance(dropped, dict) else {}
    if not isinstance(statuses, dict):
        lines = [style.state(str(reply.get("status"))), *_health_lines(health, style)]
        for slots in backoff.values():
            lines += _backoff_lines(slots, style)
        for streams in dropped.values():
            lines += _dropped_lines(streams, style)
        return "\n".join(lines)
    items = sorted((str(name), str(state)) for name, state in statuses.items())
    if style.tty and not backoff and not health and not dropped:
        return style.table(["WATCHER", "STATE"], items, painters=[None, "state"])
    lines = []
    for name, state in items:
        lines.append(f"{name}: {style.state(state)}")
        lines += _health_lines(health.get(name), style)
        lines += _backoff_lines(backoff.get(name), style)
        lines += _dropped_lines(dropped.get(name), style)
    return "\n".join(lines)


def _health_lines(states: object, style: Style) -> list[str]:
    # Defensive, as for backoff: only our circusd sends the key.
    if not isinstance(states, dict):
        return []
    # Pids are digit strings: shorter first, then by text, is numeric order.
    pids = sorted(states, key=lambda pid: (len(str(pid)), str(pid)))
    return [f"  pid {pid}: {style.state(states[pid])}" for pid in pids
            if isinstance(states[pid], str)]


def _backoff_lines(slots: object, style: Style) -> list[str]:
    # Defensive: the keys are ours, and only our circusd sends them.
    lines = []
    for slot in slots if isinstance(slots, list) else []:
        if not isinstance(slot, dict):
            continue
        why = []
        if slot.get("quick_exits"):
            why.append(f"{slot['quick_exits']} quick exits")
        if slot.get("spawn_failures"):
            why.append(f"{slot['spawn_failures']} failed spawns")
        text = (f"  slot {slot.get('wid')}: backing off after {' and '.join(why) or 'failures'}"
                f" in a row; respawn in {float(slot.get('retry_in', 0)):.1f}s")
        lines.append(style.paint(text, "yellow"))
    return lines


def _dropped_lines(streams: object, style: Style) -> list[str]:
    # Defensive, as for backoff: only our circusd sends the key.
    lines = []
    for stream, drops in sorted(streams.items()) if isinstance(streams, dict) else []:
        if not isinstance(drops, dict):
            continue
        error = drops.get("error")
        now = f"writes failing: {error}" if error else "writing again"
        text = (f"  {stream}: {drops.get('dropped_chunks', 0)} chunks "
                f"({drops.get('dropped_bytes', 0)} bytes) of output dropped; {now}")
        lines.append(style.paint(text, "red" if error else "yellow"))
    return lines


def render_version(reply: ConsoleReply, style: Style) -> str:
    """The daemon's circus-core version (``version``, ours)."""
    return str(reply.get("version", ""))


def render_number(key: Literal["numprocesses", "numwatchers"]) -> Renderer:
    """A renderer printing ``reply[key]``."""
    def render(reply: ConsoleReply, style: Style) -> str:
        return str(reply.get(key))
    return render


def option_value(key: str, value: JSONValue) -> str:
    """An option value as upstream prints it: env as ``k=v,...``, None as nothing."""
    if value is None:
        return ""
    if key == "env" and isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def render_options(reply: ConsoleReply, style: Style) -> str:
    """``key: value`` lines sorted by key (the ``options`` command)."""
    options = reply.get("options") or {}
    return "\n".join(f"{k}: {option_value(k, v)}" for k, v in sorted(options.items()))


def render_keys(reply: ConsoleReply, style: Style) -> str:
    """``key: value`` lines in reply order (``get`` and ``globaloptions``)."""
    options = reply.get("options") or {}
    return "\n".join(f"{k}: {option_value(k, v)}" for k, v in options.items())


def render_sockets(reply: ConsoleReply, style: Style) -> str:
    """``<fd>:socket '<name>' at <host>:<port>`` (or ``at <path>``) per socket."""
    lines = []
    for sock in reply.get("sockets", []):
        where = sock["path"] if sock.get("path") else f"{sock.get('host')}:{sock.get('port')}"
        lines.append(f"{sock.get('fd')}:socket '{sock.get('name')}' at {where}")
    return "\n".join(lines)


def infoline(info: object) -> str:
    """The nine process fields upstream prints for ``stats``/``dstats``."""
    if not isinstance(info, dict):
        return str(info)
    first = f"{info.get('pid', 'N/A')}  "
    return first + " ".join(str(info.get(key, "N/A")) for key in _INFOLINE_KEYS[1:])


def _process_lines(pid: object, info: object) -> list[str]:
    lines = [f"{pid}: {infoline(info)}"]
    if isinstance(info, dict):
        lines += [f"   {infoline(child)}" for child in info.get("children") or []]
    return lines


def render_stats(reply: ConsoleReply, style: Style) -> str:
    """Per watcher ``name:`` then ``pid: <infoline>`` with children indented."""
    lines: list[str] = []
    if "infos" in reply:
        for name, processes in reply["infos"].items():
            lines.append(f"{name}:")
            for pid, info in (processes or {}).items():
                lines += _process_lines(pid, info)
    elif "process" in reply:
        lines += _process_lines(reply["process"], reply.get("info"))
        lines.append("")  # upstream ends a single-process answer with a blank line
    else:
        lines.append(f"{reply.get('name')}:")
        by_pid = reply.get("info") or {}
        for pid, entry in by_pid.items() if isinstance(by_pid, dict) else ():
            lines += _process_lines(pid, entry)
    return "\n".join(lines)


def render_dstats(reply: ConsoleReply, style: Style) -> str:
    """``Main Process:`` and circusd's own infoline."""
    return "Main Process:\n    " + infoline(reply.get("info"))


def render_scale(reply: ConsoleReply, style: Style) -> str:
    """``incr``/``decr``: the new count, ``ok``, or the singleton notice."""
    if reply.get("singleton"):
        return "This watcher is a Singleton - not changing the number of processes"
    if "numprocesses" in reply:
        return str(reply["numprocesses"])
    return "ok"


def output_text(data: object) -> str:
    """One line of a watcher's output as ``tail`` prints it: always one newline at the end."""
    text = str(data)
    return text if text.endswith("\n") else text + "\n"


def render_tail(reply: ConsoleReply, style: Style) -> str:
    """The lines as the processes wrote them, oldest first."""
    lines = reply.get("lines", [])
    return "".join(output_text(line.get("data", "")) for line in lines).removesuffix("\n")
