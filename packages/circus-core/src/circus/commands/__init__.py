"""The control-channel commands and their dispatcher.

``COMMANDS`` maps each wire name to its handler; :class:`Dispatcher` turns a
raw request frame into its reply. The ZMQ transport lives in
:mod:`circus._channels.controller`.
"""

from __future__ import annotations

from ._dispatch import MAX_MESSAGE_SIZE, Dispatcher, Outcome, RawJSON, error_reply
from ._props import Props
from ._registry import COMMANDS, Command, command, load_commands

__all__ = [
    "COMMANDS",
    "MAX_MESSAGE_SIZE",
    "Command",
    "Dispatcher",
    "Outcome",
    "Props",
    "RawJSON",
    "command",
    "error_reply",
    "load_commands",
]
