"""Key handling: quit, sort cycling and the filter prompt."""

from __future__ import annotations

import curses

from circus.top import SortColumn, ViewState
from circus.top._keys import ESCAPE, Outcome, handle_key


def test_s_cycles_cpu_memory_rss_age_pid_and_back():
    view = ViewState()
    seen = [view.sort]
    for _ in range(5):
        assert handle_key(view, "s") is Outcome.REPAINT
        seen.append(view.sort)
    assert seen == [SortColumn.CPU, SortColumn.MEMORY, SortColumn.RSS, SortColumn.AGE,
                    SortColumn.PID, SortColumn.CPU]


def test_q_quits():
    assert handle_key(ViewState(), "q") is Outcome.QUIT


def test_slash_opens_a_prompt_and_enter_applies_it():
    view = ViewState()
    assert handle_key(view, "/") is Outcome.REPAINT
    for key in "weqs":  # q and s are text inside the prompt
        handle_key(view, key)
    handle_key(view, curses.KEY_BACKSPACE)
    handle_key(view, "\x7f")
    assert view.prompt == "we"
    assert handle_key(view, "\n") is Outcome.REPAINT
    assert view == ViewState(filter="we", prompt=None, sort=SortColumn.CPU)


def test_escape_cancels_and_an_empty_filter_clears():
    view = ViewState(filter="web")
    handle_key(view, "/")
    handle_key(view, "x")
    handle_key(view, ESCAPE)
    assert (view.filter, view.prompt) == ("web", None)
    handle_key(view, "/")
    handle_key(view, curses.KEY_ENTER)
    assert view.filter == ""


def test_resize_repaints_and_other_keys_do_nothing():
    view = ViewState()
    assert handle_key(view, curses.KEY_RESIZE) is Outcome.REPAINT
    assert handle_key(view, "x") is Outcome.IGNORED
    assert handle_key(view, curses.KEY_UP) is Outcome.IGNORED
    handle_key(view, "/")
    assert handle_key(view, curses.KEY_UP) is Outcome.IGNORED
    assert view == ViewState(prompt="")
