"""circusd's arbiter: the one its config file describes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus._setup.build import build
from circus.arbiter import Arbiter
from circus.config import CircusConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from circus._setup.build import ArbiterOptions


def build_arbiter(config: CircusConfig, **overrides: Unpack[ArbiterOptions]) -> Arbiter:
    """Create the :class:`Arbiter` described by ``config``; ``overrides`` win over [circus]."""
    return build(Arbiter, config, **overrides)
