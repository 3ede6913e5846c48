"""What each key press does to the view; kept free of curses calls so it is testable."""

from __future__ import annotations

import curses
import enum

from circus.top._view import ViewState

ESCAPE = "\x1b"
_ENTER = {"\n", "\r", curses.KEY_ENTER}
_BACKSPACE = {"\x7f", "\b", curses.KEY_BACKSPACE}


class Outcome(enum.Enum):
    """What the screen should do after a key."""

    QUIT = "quit"  # leave circus-top
    REPAINT = "repaint"  # the view changed (or the terminal did): draw again
    IGNORED = "ignored"  # nothing to do


def handle_key(view: ViewState, key: str | int) -> Outcome:
    """Apply ``key`` (a character, or a curses key code) to ``view``."""
    if key == curses.KEY_RESIZE:
        return Outcome.REPAINT
    if view.prompt is not None:
        return _prompt_key(view, key)
    if key in ("q", "Q"):
        return Outcome.QUIT
    if key in ("s", "S"):
        view.sort = view.sort.next()
        return Outcome.REPAINT
    if key == "/":
        view.prompt = ""
        return Outcome.REPAINT
    return Outcome.IGNORED


def _prompt_key(view: ViewState, key: str | int) -> Outcome:
    assert view.prompt is not None
    if key in _ENTER:
        view.filter = view.prompt.strip()
        view.prompt = None
    elif key == ESCAPE:
        view.prompt = None
    elif key in _BACKSPACE:
        view.prompt = view.prompt[:-1]
    elif isinstance(key, str) and key.isprintable():
        view.prompt += key
    else:
        return Outcome.IGNORED
    return Outcome.REPAINT
