"""The one exception a command handler raises to refuse a request."""

from __future__ import annotations


class CommandError(Exception):
    """A command was refused; the kernel replies ``Error: <message>``.

    Handlers raise it for every expected failure. Anything else that escapes a
    handler is a bug: the loop still answers ``Error: ...`` and logs it.
    """
