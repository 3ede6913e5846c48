"""A custom stream class for tests/test_watcher_output.py, used by dotted path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Every instance built, so a test can find the one its watcher made.
INSTANCES: list[CollectingStream] = []


class CollectingStream:
    """Keeps every data dict it receives; ``label`` proves options reach the class."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.received: list[dict[str, Any]] = []
        self.closed = False
        INSTANCES.append(self)

    def __call__(self, data: Mapping[str, Any]) -> None:
        self.received.append(dict(data))

    def close(self) -> None:
        self.closed = True

    def reopen(self) -> None:
        """Nothing to reopen."""
