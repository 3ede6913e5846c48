"""circusd's arbiter: the one its config file describes."""

from __future__ import annotations

from typing import Any

from circus._setup.build import build
from circus.arbiter import Arbiter
from circus.config import CircusConfig


def build_arbiter(config: CircusConfig, **overrides: Any) -> Arbiter:
    """Create the :class:`Arbiter` described by ``config``; ``overrides`` win over [circus]."""
    return build(Arbiter, config, **overrides)
