"""The ``peers`` fixture: what a test starts is stopped at its end.

The suite-wide guards (a leaked child fails its test, children get a working
Ctrl-C) come from the pytest-circus-guards plugin in tools/, as in every suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[dict[str, list[object]]]:
    """Everything a test starts (daemons, plugins, sockets), stopped at its end."""
    started: dict[str, list[object]] = {"plugins": [], "daemons": [], "closers": []}
    yield started
    for plugin in started["plugins"]:
        plugin.stop()  # type: ignore[attr-defined]
    for daemon in started["daemons"]:
        daemon.stop()  # type: ignore[attr-defined]
    for close in started["closers"]:
        close()  # type: ignore[operator]
