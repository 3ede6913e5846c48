"""The shape of a command declaration: arguments, flags, properties, rendering.

NamedTuples rather than dataclasses: importing dataclasses costs circusctl
several milliseconds of its start-up budget.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import NamedTuple

from circus.ctl._console import Renderer


class Arg(NamedTuple):
    """A positional argument; ``nargs`` as argparse (None: exactly one)."""

    name: str
    help: str
    nargs: str | None = None


class Flag(NamedTuple):
    """An option: a switch (``metavar`` None) or one that takes a value."""

    name: str
    help: str
    metavar: str | None = None
    default: str | None = None
    short: str | None = None  # a one-letter alias, such as ``-f``


class Command(NamedTuple):
    """One circusctl command, declared once for the parser, the shell and the help."""

    name: str
    summary: str
    description: str
    build: Callable[[Namespace], dict[str, object]]
    render: Renderer
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    # Whether the shell completes watcher names for the first argument.
    takes_watcher: bool = True
