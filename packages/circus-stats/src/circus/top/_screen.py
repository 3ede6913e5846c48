"""The curses shell: wait for stats, keys or signals, then draw what the renderer says.

One ``zmq.Poller`` waits on the SUB socket, stdin and a signal wakeup pipe with
a timeout until the next repaint, so an idle console sleeps. Signal handlers do
nothing themselves: ``signal.set_wakeup_fd`` wakes the poller and the loop acts
on the signal numbers it reads from the pipe. That keeps Ctrl-C, SIGTERM and
SIGHUP from unwinding through curses code, and turns SIGWINCH into a resize.
"""

from __future__ import annotations

import contextlib
import curses
import functools
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

import zmq
from circus.top._keys import Outcome, handle_key
from circus.top._model import StatsModel
from circus.top._render import WAITING_AFTER, Line, Style, render
from circus.top._view import ViewState

REPAINT_INTERVAL = 1.0
"""Seconds between two repaints when no key is pressed."""

_QUIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Bounds one drain of the SUB socket so a flood of stats cannot starve the keyboard.
_MAX_MESSAGES_PER_WAKE = 2000

_ATTRIBUTES = {
    Style.HEADER: curses.A_REVERSE,
    Style.TITLE: curses.A_BOLD,
    Style.HEADING: curses.A_UNDERLINE,
    Style.TOTAL: curses.A_BOLD,
    Style.MESSAGE: curses.A_BOLD,
    Style.PROMPT: curses.A_REVERSE,
}


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A handler that only lets ``set_wakeup_fd`` record the signal."""


class Console:
    """circus-top's screen loop over a curses window.

    Args:
        window: the curses standard screen.
        sock: the SUB socket on the stats endpoint.
        model: where stats messages go.
        endpoint: the stats endpoint, for the header and the waiting message.
        wakeup_fd: the read end of the signal wakeup pipe.
    """

    def __init__(
        self, window: curses.window, sock: zmq.SyncSocket, model: StatsModel, endpoint: str,
        wakeup_fd: int,
    ) -> None:
        self.window = window
        self.sock = sock
        self.model = model
        self.endpoint = endpoint
        self.view = ViewState()
        self.wakeup_fd = wakeup_fd
        self.stdin_fd = sys.stdin.fileno()
        self.poller = zmq.Poller()
        self.poller.register(sock, zmq.POLLIN)
        self.poller.register(self.stdin_fd, zmq.POLLIN)
        self.poller.register(wakeup_fd, zmq.POLLIN)

    def run(self) -> int:
        """Show the console until the user quits or a quit signal arrives; return 0."""
        self.window.nodelay(True)
        self.window.keypad(True)
        curses.set_escdelay(25)  # Esc closes the prompt without curses's default 1 s lag
        next_paint = 0.0
        while True:
            timeout_ms = int(max(0.0, next_paint - time.monotonic()) * 1000)
            ready = dict(self.poller.poll(timeout_ms))
            repaint = False
            if self.sock in ready:
                silent = self._silent()
                self._drain()
                # The first stats after a silence replace the waiting message at once.
                repaint = silent and not self._silent()
            if self.wakeup_fd in ready:
                signals = os.read(self.wakeup_fd, 512)
                if any(s in signals for s in _QUIT_SIGNALS):
                    return 0
                if signal.SIGWINCH in signals:
                    self._resize()
                    repaint = True
            if self.stdin_fd in ready:
                outcome = self._read_keys()
                # Readable but empty: the terminal hung up; polling it again would spin.
                if outcome is Outcome.QUIT or (outcome is None and self._terminal_gone()):
                    return 0
                repaint = repaint or outcome is Outcome.REPAINT
            if repaint or time.monotonic() >= next_paint:
                self.paint()
                next_paint = time.monotonic() + REPAINT_INTERVAL

    def _silent(self) -> bool:
        silent_for = self.model.silent_for()
        return silent_for is None or silent_for > WAITING_AFTER

    def _drain(self) -> None:
        for _ in range(_MAX_MESSAGES_PER_WAKE):
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.model.ingest(frames)

    def _terminal_gone(self) -> bool:
        probe = select.poll()
        probe.register(self.stdin_fd, select.POLLIN)
        gone = select.POLLHUP | select.POLLERR | select.POLLNVAL
        return any(events & gone for _, events in probe.poll(0))

    def _read_keys(self) -> Outcome | None:
        """What the pending keys did, or ``None`` if there was no key at all."""
        result: Outcome | None = None
        while True:
            try:
                key = self.window.get_wch()
            except curses.error:  # no more input
                return result
            outcome = handle_key(self.view, key)
            if outcome is Outcome.QUIT:
                return outcome
            if result is not Outcome.REPAINT:
                result = outcome

    def _resize(self) -> None:
        # The terminal may have gone away, or be too odd to measure: keep the old size.
        with contextlib.suppress(OSError, curses.error):
            size = os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1)
            curses.resizeterm(size.lines, size.columns)

    def paint(self) -> None:
        """Draw one frame."""
        self.model.expire()
        height, width = self.window.getmaxyx()
        lines = render(self.model, self.view, height, width, self.endpoint,
                       time.strftime("%H:%M:%S"))
        self.window.erase()
        for row, line in enumerate(lines):
            _put(self.window, row, line)
        self._place_cursor(lines, height, width)
        self.window.refresh()

    def _place_cursor(self, lines: list[Line], height: int, width: int) -> None:
        prompt = self.view.prompt is not None and len(lines) == height
        try:
            curses.curs_set(1 if prompt else 0)
            if prompt:
                self.window.move(height - 1, min(len(lines[-1].text), width - 1))
        except curses.error:  # a terminal that cannot hide or move its cursor
            pass


def _put(window: curses.window, row: int, line: Line) -> None:
    # Writing the bottom-right cell moves the cursor past the edge: curses reports an
    # error although the text is drawn. Tiny windows fail the same harmless way.
    with contextlib.suppress(curses.error):
        window.addstr(row, 0, line.text, _ATTRIBUTES.get(line.style, curses.A_NORMAL))


def _in_curses(body: Callable[[curses.window], int]) -> int:
    """Run ``body`` on the curses screen and always give the terminal back."""
    window = curses.initscr()
    try:
        curses.noecho()
        curses.cbreak()
        with contextlib.suppress(curses.error):  # terminals without colours still work
            curses.start_color()
        return body(window)
    finally:
        # After a hang-up these fail for want of a terminal; nothing is left to restore then.
        steps: tuple[Callable[[], object], ...] = (
            functools.partial(window.keypad, False), curses.echo, curses.nocbreak, curses.endwin)
        for restore in steps:
            with contextlib.suppress(curses.error):
                restore()


def run_console(sock: zmq.SyncSocket, model: StatsModel, endpoint: str) -> int:
    """Take over the terminal, run the console, and restore the terminal; return the exit code."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watched = (*_QUIT_SIGNALS, signal.SIGWINCH)
    previous = {signum: signal.signal(signum, _ignore) for signum in watched}
    try:
        return _in_curses(lambda window: Console(window, sock, model, endpoint, read_fd).run())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)
