"""``circusctl``: the command-line controller for circusd.

A subpackage (not a module) so that it ships under the ``circus`` namespace,
which only circus-core may own; ``python -m circus.circusctl`` also works.
"""

from __future__ import annotations

from circus.ctl._main import main

__all__ = ["main"]
