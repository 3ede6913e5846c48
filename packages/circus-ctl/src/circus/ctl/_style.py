"""How output looks: plain (upstream's exact lines) when piped, colour and tables on a TTY."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, NamedTuple

_CODES = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}
_STATE_COLOURS = {"active": "green", "stopped": "red", "error": "red", "ready": "green",
                  "unhealthy": "red"}


class Style(NamedTuple):
    """Output settings: ``tty`` enables tables, ``colour`` ANSI colours."""

    tty: bool = False
    colour: bool = False

    @classmethod
    def for_stream(cls, stream: IO[str]) -> Style:
        """The style for ``stream``: colour unless NO_COLOR is set or TERM is dumb."""
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        colour = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        return cls(tty=tty, colour=colour)

    def paint(self, text: str, colour: str) -> str:
        """``text`` in ``colour`` when colours are on."""
        if not self.colour:
            return text
        return f"\033[{_CODES[colour]}m{text}\033[0m"

    def state(self, state: str) -> str:
        """A watcher state or a process's health, coloured by meaning."""
        return self.paint(state, _STATE_COLOURS.get(state, "yellow"))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]],
              painters: Sequence[str | None] = ()) -> str:
        """Left-aligned columns; ``painters`` names a per-column styling (``"state"``)."""
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
        heads = (self.paint(h.ljust(w), "bold") for h, w in zip(header, widths, strict=True))
        lines = ["  ".join(heads).rstrip()]
        for row in rows:
            cells = []
            for i, (cell, width) in enumerate(zip(row, widths, strict=True)):
                padded = cell.ljust(width)
                if i < len(painters) and painters[i] == "state":
                    padded = self.state(cell) + " " * (width - len(cell))
                cells.append(padded)
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)
