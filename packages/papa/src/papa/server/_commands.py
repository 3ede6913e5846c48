"""Command dispatch: from a line to the reply text and what to do next.

Command words are matched case-insensitively by prefix (alphabetically first
on ambiguity), except ``exit-if-idle`` which must be typed in full.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import _help
from ._errors import CommandError
from ._kernel import Kernel
from ._lexer import match_word, parse_flag, tokenize
from ._version import PROTOCOL_VERSION, __version__
from ._watch import WatchSession

log = logging.getLogger("papa.server")

TOP_WORDS = (
    "exit-if-idle", "get", "help", "list", "make", "quit",
    "remove", "set", "stats", "version", "watch",
)  # fmt: skip
SUB_WORDS = {
    "list": ("processes", "sockets", "values"),
    "make": ("processes", "sockets"),
    "remove": ("processes", "sockets", "values"),
    "watch": ("processes",),
}


@dataclass
class Reply:
    """What a command produced.

    ``action`` is ``reply`` (text then prompt), ``quit`` (``ok`` then close),
    ``exit`` (text, prompt, close, then exit once idle) or ``watch`` (text then
    the watch sub-protocol with ``session``).
    """

    text: str = ""
    action: str = "reply"
    session: WatchSession | None = None


Handler = Callable[[Kernel, list[str]], Reply]


def _sub_word(command: str, tokens: Sequence[str]) -> str:
    choices = SUB_WORDS[command]
    if not tokens:
        raise CommandError(f'"{command}" must be followed by one of: {", ".join(choices)}')
    word = match_word(tokens[0], choices)
    if word is None:
        raise CommandError(
            f'Bad "{command}" command. The following word must be one of: {", ".join(choices)}'
        )
    return word


def _make(kernel: Kernel, tokens: list[str]) -> Reply:
    if _sub_word("make", tokens) == "sockets":
        return Reply(kernel.make_socket(tokens[1:]).line())
    process, watch = kernel.make_process(tokens[1:])
    if watch:
        return Reply(process.line(), "watch", WatchSession([process.name]))
    return Reply(process.line())


def _list(kernel: Kernel, tokens: list[str]) -> Reply:
    what, patterns = _sub_word("list", tokens), tokens[1:]
    if what == "sockets":
        return Reply(kernel.list_sockets(patterns))
    if what == "processes":
        return Reply(kernel.list_processes(patterns))
    return Reply(kernel.values.listing(patterns))


def _remove(kernel: Kernel, tokens: list[str]) -> Reply:
    what, patterns = _sub_word("remove", tokens), tokens[1:]
    if what == "sockets":
        kernel.remove_sockets(patterns)
    elif what == "processes":
        kernel.remove_processes(patterns)
    else:
        kernel.values.remove(patterns)
    return Reply()


def _watch(kernel: Kernel, tokens: list[str]) -> Reply:
    _sub_word("watch", tokens)
    patterns = tokens[1:]
    flags = {"handover": False, "keep": False}
    # Ours: only these exact options are taken, so any other pattern means what it did.
    while patterns and patterns[0].lower().partition("=")[0] in flags and "=" in patterns[0]:
        key, _, value = patterns.pop(0).partition("=")
        flags[key.lower()] = parse_flag(key.lower(), value)
    names = kernel.watchable(patterns)
    session = WatchSession(names, handover=flags["handover"], keep=flags["keep"])
    return Reply(f"Watching {len(names)}", "watch", session)


def _set(kernel: Kernel, tokens: list[str]) -> Reply:
    if not tokens:
        raise CommandError("Value requires a name")
    kernel.values.set(tokens[0], tokens[1:])
    return Reply()


def _get(kernel: Kernel, tokens: list[str]) -> Reply:
    if not tokens:
        raise CommandError("Value requires a name")
    return Reply(kernel.values.get(tokens[0]))


def _exit_if_idle(kernel: Kernel, tokens: list[str]) -> Reply:
    if not kernel.idle:
        return Reply("not idle")
    return Reply("Exiting papa!", "exit")


def _quit(kernel: Kernel, tokens: list[str]) -> Reply:
    return Reply("ok", "quit")


def _help_command(kernel: Kernel, tokens: list[str]) -> Reply:
    if not tokens:
        return Reply(_help.GENERAL)
    word = match_word(tokens[0], TOP_WORDS)
    if word is None:
        raise CommandError(f'Unknown command "{tokens[0]}"')
    sub = ""
    if word in SUB_WORDS:
        sub = (match_word(tokens[1], SUB_WORDS[word]) if len(tokens) > 1 else None) or ""
        if not sub:
            topics = [text for (top, _), text in _help.TOPICS.items() if top == word]
            return Reply("\n\n".join(topics))
    return Reply(_help.TOPICS[(word, sub)])


def _version(kernel: Kernel, tokens: list[str]) -> Reply:
    return Reply(
        f"version={__version__} protocol={PROTOCOL_VERSION} python={platform.python_version()}"
        " features=backpressure,handover,keep"
    )


def _stats(kernel: Kernel, tokens: list[str]) -> Reply:
    running = sum(process.running for process in kernel.processes.values())
    return Reply(
        f"pid={os.getpid()} uptime={time.monotonic() - kernel.started:.3f}"
        f" processes={len(kernel.processes)} running={running}"
        f" sockets={len(kernel.sockets)} values={len(kernel.values)}"
        f" buffered={kernel.buffered_bytes()}"
        f" connections={kernel.connections} watchers={kernel.watchers}"
    )


HANDLERS: dict[str, Handler] = {
    "exit-if-idle": _exit_if_idle,
    "get": _get,
    "help": _help_command,
    "list": _list,
    "make": _make,
    "quit": _quit,
    "remove": _remove,
    "set": _set,
    "stats": _stats,
    "version": _version,
    "watch": _watch,
}


def execute(kernel: Kernel, line: str) -> Reply:
    """Run one non-empty, stripped command line; never raises."""
    try:
        tokens = tokenize(line)
        if not tokens:
            return Reply()
        word = match_word(tokens[0], TOP_WORDS)
        if word is None:
            raise CommandError(f'Unknown command "{tokens[0]}"')
        if word == "exit-if-idle" and tokens[0].lower() != word:
            raise CommandError('You cannot abbreviate "exit-if-idle"')
        return HANDLERS[word](kernel, tokens[1:])
    except CommandError as exc:
        return Reply(f"Error: {exc}")
    except Exception as exc:
        # OS errors (bind, setsockopt...) are expected here; anything else is a
        # bug, logged, but the client still gets a one-line error.
        if not isinstance(exc, OSError):
            log.exception("command %r failed", line)
        message = " ".join(str(exc).split()) or type(exc).__name__
        return Reply(f"Error: {message}")
