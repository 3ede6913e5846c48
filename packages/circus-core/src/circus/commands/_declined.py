"""``ipython`` and ``listen``: commands that exist so real clients get an answer."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from circus.errors import MessageError

from ._props import Props
from ._registry import ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter


@command("ipython")
def ipython(arbiter: Arbiter, props: Props) -> ReplyFields:
    """Would start an IPython kernel in circusd; answers why it cannot."""
    if importlib.util.find_spec("IPython") is None:
        msg = "IPython is not installed in circusd's environment"
    else:
        # A kernel inside the daemon would run user code on its event loop.
        msg = "an IPython kernel inside circusd is not supported"
    return {"shell": False, "msg": msg}


@command("listen")
def listen(arbiter: Arbiter, props: Props) -> ReplyFields:
    """Only meaningful client-side: events come from the pub/sub endpoint."""
    raise MessageError("invalid message. use a pub/sub socket")
