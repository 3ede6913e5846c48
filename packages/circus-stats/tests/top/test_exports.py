"""The public surface of circus.top: a sorted ``__all__`` of documented names."""

from __future__ import annotations

import circus.top


def test_all_is_sorted_complete_and_documented():
    assert circus.top.__all__ == sorted(circus.top.__all__)
    public = {name for name in vars(circus.top) if not name.startswith("_")} - {"annotations"}
    assert public == set(circus.top.__all__) - {"__version__"}
    for name in circus.top.__all__:
        if name != "__version__":
            assert getattr(circus.top, name).__doc__, name
