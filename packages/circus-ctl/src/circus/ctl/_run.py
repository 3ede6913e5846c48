"""Run one parsed command against a client and print the outcome."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from circus.client import CircusClient, ClientError
from circus.ctl._convert import UsageError
from circus.ctl._spec import Command
from circus.ctl._style import Style

if TYPE_CHECKING:
    from circus.ctl._console import ConsoleReply

EXIT_OK = 0
EXIT_FAILED = 1  # timeout, connection failure, client-side problem
EXIT_USAGE = 2
EXIT_ERROR_REPLY = 3


def print_error(message: str) -> None:
    """``message`` on stderr, in red when stderr is a colour terminal."""
    style = Style.for_stream(sys.stderr)
    print(style.paint(message, "red"), file=sys.stderr)


def dump_json(reply: Mapping[str, object], pretty: bool) -> str:
    """The reply as ``--json`` prints it."""
    if pretty:
        return json.dumps(reply, indent=2, sort_keys=True)
    return json.dumps(reply)


def execute(cmd: Command, ns: Namespace, client: CircusClient, style: Style) -> int:
    """Build the properties, call the daemon, print the reply; return the exit code.

    Raises:
        UsageError: the arguments do not make a valid request.
    """
    props = cmd.build(ns)
    try:
        # The command name is only known at run time, so the reply is typed as
        # the keys all replies share; each renderer reads its own command's.
        reply = cast("ConsoleReply", client.call(cmd.name, **props))
    except ClientError as exc:
        print_error(f"error: {exc}")
        return EXIT_FAILED
    if getattr(ns, "json", False):
        print(dump_json(reply, getattr(ns, "prettify", False)))
        return EXIT_OK
    if reply.get("status") == "error":
        print_error(f"error: {reply.get('reason', 'unknown error')}")
        return EXIT_ERROR_REPLY
    if cmd.name == "ipython":
        return _ipython(reply)
    print(cmd.render(reply, style))
    return EXIT_OK


def _ipython(reply: ConsoleReply) -> int:
    shell = reply.get("shell")
    if not shell:
        why = reply.get("msg")
        print_error("error: Could not start ipython kernel" + (f": {why}" if why else ""))
        return EXIT_ERROR_REPLY
    try:
        import IPython
    except ImportError:
        print_error(f"error: circusd started the kernel {shell}, but IPython is not installed "
                    "here; pip install ipython jupyter-console")
        return EXIT_FAILED
    IPython.start_ipython(argv=["console", "--existing", str(shell)])
    return EXIT_OK


__all__ = ["EXIT_ERROR_REPLY", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "execute"]
