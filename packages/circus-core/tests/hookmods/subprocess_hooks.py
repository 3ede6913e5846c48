"""A hook that runs and waits for a child process of its own."""

from __future__ import annotations

import subprocess
from typing import Any

returncodes: list[int] = []


def run_child(**kwargs: Any) -> bool:
    """Run ``sh -c 'exit 7'`` and remember what subprocess saw."""
    returncodes.append(subprocess.run(["sh", "-c", "sleep 0.2; exit 7"]).returncode)
    return True
