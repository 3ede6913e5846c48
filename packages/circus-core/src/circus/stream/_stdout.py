"""Streams writing to the daemon's own standard output."""

from __future__ import annotations

import sys

from ._base import Clock, StreamMessage, TimePrefixer, option_text, prefix_lines, wall_clock

# ANSI SGR foreground colours, in the order used to pick one per pid.
COLORS = {
    "red": 31,
    "green": 32,
    "yellow": 33,
    "blue": 34,
    "magenta": 35,
    "cyan": 36,
    "white": 37,
}
_RESET = b"\x1b[0m"


def _write_stdout(data: bytes) -> None:
    # Looked up on every call: sys.stdout may be replaced after the stream was
    # built (daemonizing, test capture); text-only replacements get decoded data.
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()  # anything already written as text must come first
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode(errors="replace"))
        out.flush()


class StdoutStream:
    """Copy process output verbatim to the daemon's standard output."""

    def __call__(self, data: StreamMessage) -> None:
        """Write ``data["data"]`` to stdout and flush."""
        chunk: bytes = data["data"]
        if chunk:
            _write_stdout(chunk)

    def reopen(self) -> None:
        """Nothing to reopen: stdout belongs to the daemon."""

    def close(self) -> None:
        """Nothing to close: stdout belongs to the daemon."""


class FancyStdoutStream(StdoutStream):
    """Write output to stdout, each line coloured and prefixed ``"<time> [<pid>] | "``.

    ``color`` is one of red, green, yellow, blue, magenta, cyan or white; when
    it is None each pid gets a colour of its own (the same one every time).
    An empty ``time_format`` leaves the time out of the prefix.
    """

    #: Clock for the prefixes; replaceable in tests.
    _now: Clock = wall_clock

    def __init__(
        self, color: str | None = None, time_format: str | None = "%Y-%m-%d %H:%M:%S"
    ) -> None:
        name = option_text("color", color)
        if name is not None:
            name = name.strip().lower()
            if name not in COLORS:
                valid = ", ".join(COLORS)
                raise ValueError(f"color: expected one of {valid}, got {color!r}")
        self.color = name
        fmt = option_text("time_format", time_format)
        self._prefixer = TimePrefixer(fmt) if fmt else None

    @property
    def time_format(self) -> str | None:
        """The strftime format of the prefixes (None: no time shown)."""
        return self._prefixer.time_format if self._prefixer else None

    def color_for(self, pid: object) -> str:
        """Return the colour name used for lines of ``pid``."""
        if self.color is not None:
            return self.color
        names = list(COLORS)
        return names[pid % len(names)] if isinstance(pid, int) else names[0]

    def __call__(self, data: StreamMessage) -> None:
        """Write every line of ``data["data"]`` coloured and prefixed."""
        chunk: bytes = data["data"]
        if not chunk:
            return
        pid = data.get("pid")
        if self._prefixer is not None:
            label = self._prefixer.prefix(pid, data.get("timestamp") or self._now())
        else:
            label = f"[{pid}] | ".encode()
        start = b"\x1b[0;%dm" % COLORS[self.color_for(pid)]
        _write_stdout(prefix_lines(chunk, start + label, _RESET))
