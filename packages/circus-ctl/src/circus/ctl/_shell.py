"""The interactive shell ``circusctl`` starts when given no command."""

from __future__ import annotations

import cmd
import contextlib
import os
import shlex
import sys
from argparse import Namespace
from collections.abc import Callable
from types import ModuleType
from typing import IO

from circus.client import CircusClient, ClientError
from circus.ctl import __version__
from circus.ctl._commands import COMMANDS
from circus.ctl._convert import UsageError
from circus.ctl._parser import command_parser
from circus.ctl._run import EXIT_OK, execute
from circus.ctl._spec import Command
from circus.ctl._style import Style

HISTORY_FILE = "~/.circusctl_history"


class CircusShell(cmd.Cmd):
    """A ``cmd.Cmd`` shell with one ``do_``/``help_``/``complete_`` trio per command."""

    prompt = "(circusctl) "

    def __init__(self, client: CircusClient, options: Namespace,
                 stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.client = client
        self.options = options
        self.last_exit = EXIT_OK

    def run_command(self, command: Command, line: str) -> None:
        """Parse ``line`` as ``command``'s arguments and run it; errors are printed."""
        parser = command_parser(command, prog="")
        try:
            words = shlex.split(line)
            ns = parser.parse_args(words, namespace=Namespace(**vars(self.options)))
        except ValueError as exc:  # unbalanced quotes
            print(f"error: {exc}", file=sys.stderr)
            return
        except SystemExit:  # argparse already printed the usage and the problem
            return
        if command.name == "listen":
            from circus.ctl._listen import listen

            self.last_exit = listen(self.options.endpoint, ns.topics, ns.json)
            return
        if command.name == "tail":
            from circus.ctl._tail import tail

            try:
                props = command.build(ns)
            except UsageError as exc:
                print(f"tail: error: {exc}", file=sys.stderr)
                return
            self.last_exit = tail(self.client, ns, props)
            return
        try:
            self.last_exit = execute(command, ns, self.client, Style.for_stream(sys.stdout))
        except UsageError as exc:
            print(f"{command.name}: error: {exc}", file=sys.stderr)

    def watcher_names(self) -> list[str]:
        """The watcher names, from a ``list`` call (empty if the daemon does not answer)."""
        try:
            reply = self.client.call("list")
        except ClientError:
            return []
        return [str(name) for name in reply.get("watchers", [])]

    def complete_watcher(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Complete the first argument with watcher names."""
        if len(line[:begidx].split()) != 1:
            return []
        return [name for name in self.watcher_names() if name.startswith(text)]

    # EOF (Ctrl-D) and help carry no docstring on purpose: `help` then lists them
    # under "Undocumented commands", as the manual's tutorial shows.
    def do_EOF(self, line: str) -> bool:
        print()
        return True

    def do_help(self, arg: str) -> bool | None:
        return super().do_help(arg)

    def emptyline(self) -> bool:
        return False  # upstream-style: an empty line does nothing (cmd would repeat)

    def default(self, line: str) -> None:
        print(f"unknown command: {line.split()[0]!r}; type help for the list", file=sys.stderr)


def _install(command: Command) -> None:
    def do(self: CircusShell, line: str) -> None:
        self.run_command(command, line)

    def help_(self: CircusShell) -> None:
        print(command_parser(command, prog="").format_help())

    do.__doc__ = command.summary
    setattr(CircusShell, f"do_{command.name}", do)
    setattr(CircusShell, f"help_{command.name}", help_)
    if command.takes_watcher:
        complete: Callable[..., list[str]] = CircusShell.complete_watcher
        setattr(CircusShell, f"complete_{command.name}", complete)


for _command in COMMANDS.values():
    _install(_command)


def _history() -> tuple[ModuleType, str] | None:
    try:
        import readline
    except ImportError:
        return None
    path = os.path.expanduser(HISTORY_FILE)
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    return readline, path


def run_shell(options: Namespace) -> int:
    """Print the version and the status, then read commands until EOF or Ctrl-C."""
    from circus.ctl._main import make_client

    history = _history()
    print(f"circusctl {__version__}")
    with make_client(options) as client:
        shell = CircusShell(client, options)
        shell.run_command(COMMANDS["status"], "")
        try:
            shell.cmdloop()
        except KeyboardInterrupt:
            print()
        finally:
            if history is not None:
                readline, path = history
                with contextlib.suppress(OSError):
                    readline.write_history_file(path)
    return EXIT_OK
