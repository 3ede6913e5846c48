"""The papa process kernel (server side).

Run it as ``papa`` or ``python -m papa.server``. ``Server`` serves the
protocol on a listening socket, for embedding the kernel in a thread.
"""

from __future__ import annotations

from ._cli import main
from ._loop import Server

__all__ = ["Server", "main"]
