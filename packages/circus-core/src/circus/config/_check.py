"""The ``check`` and ``depends_on`` watcher options: parsing and the dependency graph.

Pure functions (no I/O): the loader, ``set``/``add`` and the health monitor of
``circus._watching.health`` all parse a check string here, so a check that
loads is a check that runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

ProbeKind = Literal["tcp", "http", "exec"]

_EXPECTED = "expected tcp://HOST:PORT, http://HOST[:PORT][/PATH] or exec:COMMAND"
_VARIABLE = re.compile(
    r"\$\(\s*circus\.[A-Za-z0-9_.\-]+\s*\)|\(\(\s*circus\.[A-Za-z0-9_.\-]+\s*\)\)")
_NAME = re.compile(r"^[A-Za-z0-9_@+-]+$")


@dataclass(frozen=True)
class ProbeSpec:
    """One parsed check: what to probe and where.

    ``port`` is None only while the text still holds ``$(circus.X)``
    variables (they are expanded per process before the probe runs).
    """

    kind: ProbeKind
    text: str
    host: str = ""
    port: int | None = None
    path: str = "/"
    command: str = ""

    @property
    def templated(self) -> bool:
        """Whether the text holds ``$(circus.X)`` variables to expand per process."""
        return bool(_VARIABLE.search(self.text))


def parse_check(value: object) -> str | None:
    """Validate a ``check`` value; returns it stripped (None: no check).

    Raises:
        ValueError: ``expected tcp://HOST:PORT, ...`` with what is wrong.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    probe_spec(text)
    return text


def probe_spec(text: str) -> ProbeSpec:
    """Parse a check string (``tcp://``, ``http://`` or ``exec:``) into a :class:`ProbeSpec`.

    Raises:
        ValueError: the string is no check; the message says what was expected.
    """
    lowered = text.lower()
    if lowered.startswith("exec:"):
        command = text[len("exec:"):].strip()
        if not command:
            raise ValueError(f"{_EXPECTED}: exec: needs a command")
        return ProbeSpec("exec", text, command=command)
    for kind in ("tcp", "http"):
        prefix = f"{kind}://"
        if lowered.startswith(prefix):
            rest = text[len(prefix):]
            address, slash, path = rest.partition("/")
            if kind == "tcp" and slash and path:
                raise ValueError(f"{_EXPECTED}: a tcp check takes no path")
            host, port = _address(address, 80 if kind == "http" else None, text)
            return ProbeSpec("tcp" if kind == "tcp" else "http", text, host=host, port=port,
                             path="/" + path)
    raise ValueError(_EXPECTED)


def _address(address: str, default_port: int | None, text: str) -> tuple[str, int | None]:
    if address.startswith("["):  # [::1]:port
        host, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{_EXPECTED}: bad IPv6 address in {text!r}")
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = address.rpartition(":") if ":" in address else (address, "", "")
    if not host:
        raise ValueError(f"{_EXPECTED}: no host in {text!r}")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{_EXPECTED}: no port in {text!r}")
        return host, default_port
    if _VARIABLE.search(port_text):
        return host, None  # known once $(circus.wid) & co. are expanded for a process
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{_EXPECTED}: port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def parse_depends_on(value: object) -> tuple[str, ...]:
    """Watcher names separated by commas (or a list of them); empty: none.

    Raises:
        ValueError: a name that no watcher can have, or one given twice.
    """
    if value is None:
        return ()
    items: Iterable[object] = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names: list[str] = []
    for item in items:
        name = str(item).strip()
        if not name:
            continue
        if not _NAME.match(name):
            raise ValueError(f"expected watcher names separated by commas, got {name!r}")
        if name.lower() in (n.lower() for n in names):
            raise ValueError(f"watcher {name!r} is named twice")
        names.append(name)
    return tuple(names)


def dependency_problem(graph: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """The first problem of a dependency graph (name → names it depends on), or None.

    Returns (the watcher whose ``depends_on`` is at fault, the message).
    Names compare case-insensitively, as watcher names do. A problem is an
    unknown name (``depends_on names unknown watcher 'x'``) or a cycle,
    spelt out as ``circular depends_on: a -> b -> a``.
    """
    lowered = {name.lower(): name for name in graph}
    edges = {name.lower(): [dep.lower() for dep in deps] for name, deps in graph.items()}
    for name, deps in graph.items():
        for dep in deps:
            if dep.lower() not in lowered:
                return name, f"depends_on names unknown watcher {dep!r}"
    done: set[str] = set()
    for start in sorted(edges):
        if start in done:
            continue
        # Iterative depth-first search; ``path`` is the chain being followed.
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(edges[start])]
        while stack:
            dep = next(stack[-1], "")
            if not dep:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if dep in on_path:
                cycle = [*path[path.index(dep):], dep]
                return lowered[dep], "circular depends_on: " + " -> ".join(
                    lowered[n] for n in cycle)
            if dep in done:
                continue
            path.append(dep)
            on_path.add(dep)
            stack.append(iter(edges[dep]))
    return None
