"""Fixtures of the chaos tests."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import pytest

from ._chaos import reap_guards

_PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Make this test process a child subreaper for the test: orphans come to it.

    At teardown the orphan guards re-parented here are reaped once they exit.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        reap_guards()  # circusd's orphan guard was re-parented to us
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
