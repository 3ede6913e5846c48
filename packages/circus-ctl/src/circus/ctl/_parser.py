"""argparse parsers built from the command declarations.

Parsing is two-stage: the main parser takes the global options and the
command name, then the command's own parser takes the rest. That way a wrong
number of arguments is reported with the command's usage line, not the
program's. Global options are accepted after the command too.
"""

from __future__ import annotations

import argparse
from typing import TypeVar

from circus.client import DEFAULT_ENDPOINT
from circus.client.cli import add_curve, add_endpoint, add_ssh, seconds_type
from circus.ctl import __version__
from circus.ctl._commands import COMMANDS
from circus.ctl._spec import Command

USAGE = "circusctl [options] command [args]"


_timeout = seconds_type(not_positive="must be more than 0, got {text!r}")

_T = TypeVar("_T")


def add_globals(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every invocation accepts; ``suppress`` leaves unset ones out."""
    def default(value: _T) -> _T | str:
        return argparse.SUPPRESS if suppress else value

    def helptext(text: str) -> str:
        # A command's own help and usage line stay about the command.
        return argparse.SUPPRESS if suppress else text

    group = parser.add_argument_group("global options")
    # Checked when connecting: the endpoint may come from $CIRCUSCTL_ENDPOINT too.
    add_endpoint(group, default=default(None), schemes=None,
                 help=helptext("the control endpoint (default: $CIRCUSCTL_ENDPOINT or "
                               f"{DEFAULT_ENDPOINT}; for listen, the pubsub endpoint)"))
    group.add_argument("--timeout", type=_timeout, default=default(5.0),
                       metavar="SECONDS", help=helptext("how long to wait for a reply (default 5)"))
    group.add_argument("--json", action="store_true", default=default(False),
                       help=helptext("print the raw JSON reply"))
    group.add_argument("--prettify", action="store_true", default=default(False),
                       help=helptext("with --json, indent and sort the keys"))
    add_ssh(group, keyfile_flags=("--ssh_keyfile", "--ssh-keyfile"), default=default(None),
            show_help=not suppress)
    add_curve(group, suppress=suppress)


def main_parser() -> argparse.ArgumentParser:
    """The top-level parser: global options, a command name and its words."""
    width = max(len(name) for name in COMMANDS) + 2
    commands = "\n".join(f"  {name.ljust(width)}{cmd.summary}" for name, cmd in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="circusctl", usage=USAGE, description="Controls a Circus daemon.",
        epilog=f"commands:\n{commands}\n  {'keygen'.ljust(width)}write a CURVE key pair "
        "(no daemon needed)\n\nWithout a command, circusctl starts an interactive "
        "shell.\n'circusctl COMMAND --help' describes a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_globals(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"circusctl {__version__}")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def command_parser(cmd: Command, prog: str = "circusctl") -> argparse.ArgumentParser:
    """The parser for one command's arguments and flags."""
    parser = argparse.ArgumentParser(
        prog=f"{prog} {cmd.name}".strip(), description=f"{cmd.summary}.\n\n{cmd.description}",
    )
    for arg in cmd.args:
        parser.add_argument(arg.name, nargs=arg.nargs, help=arg.help,
                            metavar=arg.name.upper())
    for flag in cmd.flags:
        names = (flag.short, flag.name) if flag.short else (flag.name,)
        if flag.metavar is None:
            parser.add_argument(*names, action="store_true", help=flag.help)
        else:
            parser.add_argument(*names, metavar=flag.metavar, default=flag.default,
                                help=flag.help)
    if prog:
        add_globals(parser, suppress=True)
    return parser
