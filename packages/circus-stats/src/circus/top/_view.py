"""What the user chose to see: the sort column, the watcher filter, an open prompt."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SortColumn(enum.Enum):
    """The column process rows are ordered by; ``s`` moves to the next one."""

    CPU = "CPU"  # busiest first
    MEMORY = "MEMORY"  # largest share of memory first
    RSS = "RSS"  # largest resident size first
    AGE = "AGE"  # oldest first
    PID = "PID"  # lowest pid first

    @property
    def descending(self) -> bool:
        """Whether larger values come first (every column but PID)."""
        return self is not SortColumn.PID

    def next(self) -> SortColumn:
        """The column after this one, wrapping around to CPU."""
        members = list(SortColumn)
        return members[(members.index(self) + 1) % len(members)]


@dataclass
class ViewState:
    """The user's choices.

    Attributes:
        sort: the column process rows are ordered by.
        filter: show only groups whose name contains this (case-insensitive); empty shows all.
        prompt: the filter text being typed, or ``None`` when no prompt is open.
    """

    sort: SortColumn = SortColumn.CPU
    filter: str = ""
    prompt: str | None = None

    def shows(self, name: str) -> bool:
        """Whether the group called ``name`` passes the filter."""
        return self.filter.casefold() in name.casefold()
