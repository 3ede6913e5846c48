"""Bash completion: ``AUTO_COMPLETE=1`` makes circusctl print the candidates and exit.

The protocol is upstream's, so its completion script works unchanged: bash
passes the words typed so far in ``COMP_WORDS`` (space-joined) and the index
of the word being completed in ``COMP_CWORD``; circusctl prints the matches
separated by spaces. Our README has the two lines of bash that hook it up.
"""

from __future__ import annotations

import os

from circus.client import CircusClient, ClientError, CurveKeys, load_curve_keys
from circus.ctl._commands import COMMANDS

# A completion must come back before the user notices the keypress.
_LIST_TIMEOUT = 1.0


def candidates(words: list[str], index: int, endpoint: str) -> list[str]:
    """What may stand at ``words[index]``: a command name, or a watcher name after one."""
    current = words[index] if 0 <= index < len(words) else ""
    # Options (--endpoint E ...) may come before the command: skip them.
    positional = []
    skip_value = False
    for word in words[1:index]:
        if skip_value:
            skip_value = False
        elif word in ("--endpoint", "--timeout", "--ssh", "--ssh_keyfile", "--ssh-keyfile",
                      "--curve-server-key", "--curve-key"):
            skip_value = True
        elif not word.startswith("-"):
            positional.append(word)
    if not positional:
        return sorted(name for name in COMMANDS if name.startswith(current))
    command = COMMANDS.get(positional[0])
    if command is None or not command.takes_watcher or len(positional) != 1:
        return []
    try:
        with CircusClient(endpoint, timeout=_LIST_TIMEOUT, transport="builtin",
                          curve=_curve_from_env()) as client:
            watchers = client.call("list").get("watchers", [])
    except ClientError:
        return []
    return sorted(str(name) for name in watchers if str(name).startswith(current))


def _curve_from_env() -> CurveKeys | None:
    """The CURVE keys of ``$CIRCUS_CURVE_SERVER_KEY`` and ``$CIRCUS_CURVE_KEY``, if both are set."""
    from circus.client.cli import CURVE_KEY_ENV, CURVE_SERVER_KEY_ENV

    server, client = os.environ.get(CURVE_SERVER_KEY_ENV), os.environ.get(CURVE_KEY_ENV)
    if not server or not client:
        return None
    try:
        return load_curve_keys(server, client)
    except ClientError:  # completion stays quiet; the command itself will say what is wrong
        return None


def _endpoint(words: list[str], default: str) -> str:
    """``--endpoint E`` (or ``--endpoint=E``) from the words typed, else ``default``."""
    for position, word in enumerate(words):
        if word == "--endpoint" and position + 1 < len(words):
            return words[position + 1]
        if word.startswith("--endpoint="):
            return word.split("=", 1)[1]
    return default


def run(default_endpoint: str) -> int:
    """Answer the completion request described by the environment."""
    words = os.environ.get("COMP_WORDS", "").split(" ")
    try:
        index = int(os.environ.get("COMP_CWORD", len(words) - 1))
    except ValueError:
        index = len(words) - 1
    print(" ".join(candidates(words, index, _endpoint(words, default_endpoint))))
    return 0
