"""Turning the model and the view into the lines of one screen; no curses here.

Every group gets its title, column heading and aggregate row; the rows left
over are shared out so that small groups show all their processes and large
ones split the rest evenly.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from circus.top._model import ProcessStat, StatsModel
from circus.top._topics import SOCKETS
from circus.top._units import format_age, format_percent, format_size
from circus.top._view import SortColumn, ViewState

CIRCUS = "circus"
"""The group of circus's own processes (circusd, circusd-stats, circushttpd), shown first."""

HIDDEN = frozenset({"circusd-stats", "circushttpd"})
"""Watchers already shown in the ``circus`` group, so not shown again on their own."""

WAITING_AFTER = 3.0
"""Seconds of silence on the channel after which the waiting message replaces the tables."""

FOOTER = "q quit   s sort   / filter"


class Style(enum.Enum):
    """How the curses shell draws a line."""

    HEADER = "header"  # the top status line
    TITLE = "title"  # a group's name
    HEADING = "heading"  # column names
    ROW = "row"  # one process or socket
    TOTAL = "total"  # a group's aggregate row
    MESSAGE = "message"  # the waiting message
    FOOTER = "footer"  # key help on the bottom line
    PROMPT = "prompt"  # the filter prompt on the bottom line


class Line(NamedTuple):
    """One screen line, already cut to the screen width."""

    text: str
    style: Style


def waiting_message(endpoint: str) -> str:
    """What the screen says while nothing arrives on the stats channel."""
    return f"waiting for circusd-stats at {endpoint} (is statsd = True?)"


@dataclass
class _Table:
    title: str
    heading: str
    rows: list[str]
    total: str
    hidden_rows: int = field(default=0)


def _cells(pid: str, cpu: str, mem: str, rss: str, age: str) -> str:
    return f"  {pid:<10}{cpu:>12}{mem:>12}{rss:>14}{age:>14}"


_HEADING = _cells("PID", "CPU %", "MEMORY %", "RSS", "AGE")

_SORT_KEYS: dict[SortColumn, Callable[[ProcessStat], float | None]] = {
    SortColumn.CPU: lambda p: p.cpu,
    SortColumn.MEMORY: lambda p: p.mem,
    SortColumn.RSS: lambda p: None if p.rss is None else float(p.rss),
    SortColumn.AGE: lambda p: p.age,
    SortColumn.PID: lambda p: float(p.pid),
}


def sort_processes(processes: list[ProcessStat], column: SortColumn) -> list[ProcessStat]:
    """``processes`` ordered by ``column``; unmeasured ("N/A") values go last, ties by pid."""
    value_of = _SORT_KEYS[column]
    sign = -1.0 if column.descending else 1.0

    def key(process: ProcessStat) -> tuple[bool, float, int]:
        value = value_of(process)
        return (value is None, 0.0 if value is None else sign * value, process.pid)

    return sorted(processes, key=key)


def _mean(values: list[float | None]) -> float | None:
    if not values or None in values:
        return None
    return sum(v for v in values if v is not None) / len(values)


def _total(values: list[float | None]) -> float | None:
    if not values or None in values:
        return None
    return sum(v for v in values if v is not None)


def _process_table(model: StatsModel, owner: str, column: SortColumn) -> _Table:
    processes = sort_processes(list(model.processes.get(owner, {}).values()), column)
    labelled = owner == CIRCUS
    # A HEALTH column only where circusd-stats reports readiness (our circusd).
    health = not labelled and any(p.health is not None for p in processes)
    rows = []
    for p in processes:
        row = _cells(str(p.pid), format_percent(p.cpu), format_percent(p.mem),
                     format_size(p.rss), format_age(p.age))
        if labelled:
            row = f"{row}  {p.name or ''}"
        elif health:
            row = f"{row}  {p.health or ''}"
        rows.append(row)
    aggregate = model.aggregates.get(owner)
    if aggregate is not None:
        cpu, mem, age = aggregate.cpu, aggregate.mem, aggregate.age
    else:  # no aggregate (yet): work it out from the rows, the way the publisher does
        cpu = _mean([p.cpu for p in processes])
        mem = _total([p.mem for p in processes])
        ages = [p.age for p in processes]
        age = None if not ages or None in ages else max(a for a in ages if a is not None)
    rss = _total([None if p.rss is None else float(p.rss) for p in processes])
    total = _cells(
        "(all)",
        f"{format_percent(cpu)} (avg)",
        f"{format_percent(mem)} (sum)",
        f"{format_size(None if rss is None else int(rss))} (sum)",
        f"{format_age(age)} (max)",
    )
    heading = f"{_HEADING}  NAME" if labelled else _HEADING
    if health:
        heading = f"{_HEADING}  HEALTH"
        ready = sum(p.health == "ready" for p in processes)
        total = f"{total}  {ready}/{len(processes)} ready"
    return _Table(owner, heading, rows, total)


def _sockets_table(model: StatsModel) -> _Table:
    sockets = sorted(model.sockets.values(), key=lambda s: (s.address, s.fd))
    width = max([len("ADDRESS"), *(len(s.address) for s in sockets)])
    rows = [f"  {s.address:<{width}}  {'N/A' if s.reads is None else s.reads:>10}"
            for s in sockets]
    if model.sockets_total is not None:
        reads = model.sockets_total.reads
    else:
        counts = [s.reads for s in sockets]
        reads = None if None in counts else sum(c for c in counts if c is not None)
    total = f"  {'(total)':<{width}}  {'N/A' if reads is None else reads:>10}"
    return _Table(SOCKETS, f"  {'ADDRESS':<{width}}  {'HITS':>10}", rows, total)


def share_rows(wanted: list[int], budget: int) -> list[int]:
    """How many rows each table may show: small tables get all theirs, big ones split the rest."""
    given = [0] * len(wanted)
    left = max(0, budget)
    order = sorted(range(len(wanted)), key=wanted.__getitem__)
    for done, index in enumerate(order):
        given[index] = min(wanted[index], left // (len(wanted) - done))
        left -= given[index]
    return given


def _tables(model: StatsModel, view: ViewState) -> list[_Table]:
    owners = sorted(o for o in model.owners() if o not in HIDDEN and o != SOCKETS)
    if CIRCUS in owners:  # circus's own processes lead, like upstream's console
        owners.remove(CIRCUS)
        owners.insert(0, CIRCUS)
    tables = [_process_table(model, o, view.sort) for o in owners if view.shows(o)]
    if (model.sockets or model.sockets_total is not None) and view.shows(SOCKETS):
        tables.append(_sockets_table(model))
    return tables


def _body(model: StatsModel, view: ViewState, height: int, endpoint: str) -> list[Line]:
    silent = model.silent_for()
    if silent is None or silent > WAITING_AFTER:
        return [Line(waiting_message(endpoint), Style.MESSAGE)]
    tables = _tables(model, view)
    if not tables:
        return [Line(f"no watcher matches {view.filter!r} (press / to change the filter)",
                     Style.MESSAGE)]
    fixed = 4 * len(tables) - 1  # title, heading, total, and a blank line between tables
    allowed = share_rows([len(t.rows) for t in tables], height - fixed)
    lines: list[Line] = []
    for table, count in zip(tables, allowed, strict=True):
        if lines:
            lines.append(Line("", Style.ROW))
        shown = len(table.rows) if count >= len(table.rows) else count
        title = table.title
        if shown < len(table.rows):
            title += f"  ({shown} of {len(table.rows)} shown)"
        lines.append(Line(title, Style.TITLE))
        lines.append(Line(table.heading, Style.HEADING))
        lines.extend(Line(row, Style.ROW) for row in table.rows[:shown])
        lines.append(Line(table.total, Style.TOTAL))
    return lines


def render(
    model: StatsModel, view: ViewState, height: int, width: int, endpoint: str, clock_text: str
) -> list[Line]:
    """The lines of a ``height`` x ``width`` screen, top to bottom.

    Args:
        model: what has arrived on the stats channel.
        view: the sort column, filter and open prompt.
        height: screen rows.
        width: screen columns; every line is cut to fit.
        endpoint: the stats endpoint, named in the header and the waiting message.
        clock_text: the wall-clock time for the header.
    """
    if height <= 0 or width <= 0:
        return []
    direction = "desc" if view.sort.descending else "asc"
    header = (f"circus-top  {endpoint}  {clock_text}  sort: {view.sort.value} {direction}"
              f"  filter: {view.filter or '(none)'}")
    lines = [Line(header, Style.HEADER)]
    if height >= 2:
        lines.extend(_body(model, view, height - 2, endpoint)[: height - 2])
        lines.extend(Line("", Style.ROW) for _ in range(height - 1 - len(lines)))
        if view.prompt is not None:
            lines.append(Line(f"filter: {view.prompt}", Style.PROMPT))
        else:
            lines.append(Line(FOOTER, Style.FOOTER))
    # A long prompt keeps its end visible: that is where the user is typing.
    return [Line(line.text[-width:] if line.style is Style.PROMPT else line.text[:width],
                 line.style) for line in lines]
