"""The name -> text store that managers use for state that must outlive them."""

from __future__ import annotations

from collections.abc import Sequence

from ._errors import CommandError
from ._lexer import select_names


class Values:
    """A flat map of names to single-line text values."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._values)

    def set(self, name: str, words: Sequence[str]) -> None:
        """Store the words joined by single spaces; no words deletes the name."""
        if not name or name == "*":
            raise CommandError("Value requires a name")
        if "*" in name:
            raise CommandError('Value names cannot contain "*"')
        if words:
            self._values[name] = " ".join(words)
        else:
            self._values.pop(name, None)

    def get(self, name: str) -> str:
        """Return the value, or an empty text when the name is unknown."""
        return self._values.get(name, "")

    def listing(self, patterns: Sequence[str]) -> str:
        """Return ``NAME VALUE`` lines for the selected names, sorted."""
        names = select_names(self._values, patterns, strict=False)
        return "\n".join(f"{name} {self._values[name]}" for name in names)

    def remove(self, patterns: Sequence[str]) -> None:
        """Delete the selected names; removing everything at once is refused."""
        if not patterns or "*" in patterns:
            raise CommandError("You cannot remove all variables")
        for name in select_names(self._values, patterns, strict=True):
            del self._values[name]
