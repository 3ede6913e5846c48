"""Version numbers reported by ``--version`` and the ``version`` command."""

from __future__ import annotations

__version__ = "0.1.0"

# The papa release whose wire protocol this kernel speaks.
PROTOCOL_VERSION = "1.0.6"
