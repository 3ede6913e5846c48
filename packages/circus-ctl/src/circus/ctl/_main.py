"""The ``circusctl`` entry point: parse argv, run a command, the listener or the shell."""

from __future__ import annotations

import os
import sys
from argparse import Namespace

from circus.client import DEFAULT_ENDPOINT, CircusClient
from circus.client.cli import check_ssh, curve_keys
from circus.ctl._commands import COMMANDS
from circus.ctl._convert import UsageError
from circus.ctl._parser import command_parser, main_parser
from circus.ctl._run import EXIT_FAILED, execute
from circus.ctl._style import Style


def control_endpoint(explicit: str | None) -> str:
    """``--endpoint``, else ``$CIRCUSCTL_ENDPOINT``, else the default."""
    return explicit or os.environ.get("CIRCUSCTL_ENDPOINT") or DEFAULT_ENDPOINT


def make_client(ns: Namespace) -> CircusClient:
    """A client for the endpoint and timeout the options name."""
    # The builtin transport spares each one-shot command pyzmq's import time.
    return CircusClient(control_endpoint(ns.endpoint), timeout=ns.timeout,
                        ssh_server=ns.ssh, ssh_keyfile=ns.ssh_keyfile, transport="builtin",
                        curve=getattr(ns, "curve", None))


def run(argv: list[str]) -> int:
    """Run circusctl with ``argv`` (without the program name); return the exit code."""
    if os.environ.get("AUTO_COMPLETE"):
        from circus.ctl import _bash_completion

        return _bash_completion.run(control_endpoint(None))
    parser = main_parser()
    ns = parser.parse_args(argv)
    check_ssh(parser, ns, "--ssh_keyfile")
    if ns.command is None:
        from circus.ctl._shell import run_shell

        ns.curve = curve_keys(parser, ns)
        return run_shell(ns)
    if ns.command == "keygen":
        from circus.ctl._keygen import keygen

        return keygen(ns.args)
    cmd = COMMANDS.get(ns.command)
    if cmd is None:
        parser.error(f"unknown command {ns.command!r}; 'circusctl --help' lists the commands")
    sub = command_parser(cmd)
    sub.parse_args(ns.args, namespace=ns)
    ns.curve = curve_keys(sub, ns)
    if cmd.name == "listen":
        from circus.ctl._listen import listen

        return listen(ns.endpoint, ns.topics, ns.json, ns.ssh, ns.ssh_keyfile, ns.curve)
    if cmd.name == "tail":
        from circus.ctl._tail import tail

        try:
            props = cmd.build(ns)
        except UsageError as exc:
            sub.error(str(exc))  # exits with status 2
        with make_client(ns) as client:
            return tail(client, ns, props)
    with make_client(ns) as client:
        try:
            return execute(cmd, ns, client, Style.for_stream(sys.stdout))
        except UsageError as exc:
            sub.error(str(exc))  # exits with status 2


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; never shows a traceback for Ctrl-C or a closed pipe."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`circusctl stats | head`); keep Python quiet on exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
