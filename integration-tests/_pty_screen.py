"""Run a terminal program in a real pty and read its screen as a person would see it.

The program's output goes through ``pyte``, a VT100 emulator, so a test reads
the text on screen after curses has drawn it, not the escape sequences.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence

import pyte

# ncurses scrolls an xterm with CSI S / CSI T, which pyte does not know; on a
# vt100 it uses scroll regions, which pyte emulates, so the screen is exact.
TERM = "vt100"


def _controlling_tty() -> None:
    # Runs in the child after setsid(): make the pty its terminal, so Ctrl-C and
    # window-size queries behave as in a real terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyScreen:
    """``argv`` running on a ``cols`` x ``rows`` pty; :meth:`text` is its screen now."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cols: int = 120,
                 rows: int = 40) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._master = master
        self._screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._lock = threading.Lock()
        try:
            self.process = subprocess.Popen(
                list(argv), stdin=slave, stdout=slave, stderr=slave,
                env=dict(env, TERM=TERM, COLUMNS=str(cols), LINES=str(rows)),
                start_new_session=True, preexec_fn=_controlling_tty)
        finally:
            os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the program closed its side of the pty
                return
            if not data:
                return
            with self._lock:
                self._stream.feed(data)

    def text(self) -> str:
        """The screen's lines, joined by newlines."""
        with self._lock:
            return "\n".join(line.rstrip() for line in self._screen.display)

    def wait_for(self, predicate_or_text: object, what: str = "",
                 timeout: float = 20.0) -> str:
        """Poll until the screen contains the text (or the predicate holds); return it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if callable(predicate_or_text):
                done = predicate_or_text(screen)
            else:
                done = str(predicate_or_text) in screen
            if done:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what or predicate_or_text!r};"
                    f" exit code {self.process.poll()}; screen:\n{screen}")
            time.sleep(0.05)

    def send(self, keys: str) -> None:
        """Type ``keys`` into the terminal."""
        os.write(self._master, keys.encode())

    def close(self, timeout: float = 10.0) -> int | None:
        """Kill the program if it still runs (its whole session) and release the pty."""
        code = self.process.poll()
        if code is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)
        with contextlib.suppress(OSError):
            os.close(self._master)
        self._reader.join(timeout=timeout)
        return code
