"""``add``, ``rm`` and ``set``: create, remove and change watchers at runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from circus._reconfig.live_options import apply_changes, parse_new_options, parse_set_options
from circus._watching.spawn import resolve_uid
from circus.errors import ConflictError, MessageError

from ._props import Props
from ._registry import HandlerResult, ReplyFields, command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

# Characters that would break the event topic ``watcher.<name>.<event>``
# (subscribers split it on dots) or the multipart frame that carries it.
_TOPIC_BREAKERS = (".", "\x00", "\n", "\r")


def check_watcher_name(name: str) -> None:
    """Refuse names that cannot be used in an event topic (errno 3)."""
    if not name.strip():
        raise MessageError("watcher name is empty")
    for char in _TOPIC_BREAKERS:
        if char in name:
            shown = "a dot" if char == "." else repr(char)
            raise MessageError(f"invalid watcher name {name!r}: it contains {shown}, which "
                               f"would break the event topic watcher.<name>.<event>")


def _uid(user: object) -> int | None:
    if not isinstance(user, (str, int)):
        return None  # not a user name or number: it cannot be the endpoint's owner
    try:
        return resolve_uid(user)
    except ValueError:
        return None  # no such user: it cannot be the endpoint's owner


def _check_owner(arbiter: Arbiter, kwargs: Mapping[str, object]) -> None:
    """With ``endpoint_owner`` set, added watchers must run as that user (manual: Security)."""
    owner = arbiter.endpoint_owner
    if arbiter.endpoint_owner_uid is None:
        return
    uid = kwargs.get("uid")
    if uid is None or _uid(uid) != arbiter.endpoint_owner_uid:
        raise MessageError(f"add: the control endpoint belongs to {owner!r} (endpoint_owner), "
                           f"so added watchers must run as that user: set options.uid to "
                           f"{owner!r} (got {uid!r})")


def _args(props: Props) -> str | list[str] | None:
    value = props.raw.get("args")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise MessageError(f"property 'args': expected a string or a list of strings, got {value!r}")


@command("add")
def add(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Add a watcher (and start it with ``start``)."""
    name = props.text("name")
    cmd = props.text("cmd")
    check_watcher_name(name)
    if not cmd.strip():
        raise MessageError("property 'cmd': expected a non-empty command")
    if any(w.name.lower() == name.lower() for w in arbiter.watchers):
        raise ConflictError(f"watcher {name!r} already exists")
    kwargs = parse_new_options(props.mapping("options", {}))
    args = _args(props)
    if args is not None:
        kwargs["args"] = args
    start = props.flag("start", False)
    _check_owner(arbiter, kwargs)
    try:
        # At once, not in the coroutine: a command right behind this one in
        # the same batch (a `start` of the new watcher) must already find it.
        watcher = arbiter.create_watcher(name, cmd, **kwargs)
    except (ValueError, TypeError) as exc:
        raise MessageError(f"cannot add watcher {name!r}: {exc}") from None
    if not start:
        return None

    async def run() -> ReplyFields:
        await watcher.start()
        return None

    return run()


@command("rm")
def rm(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Remove a watcher; ``nostop`` leaves its processes running, unmanaged."""
    watcher = props.watcher(arbiter)
    nostop = props.flag("nostop", False)
    # Gone at once, so an `add` of the same name right behind this one works.
    arbiter.remove_watcher(watcher.name, nostop=nostop)
    if nostop:
        return None

    async def run() -> ReplyFields:
        await watcher.stop()
        return None

    return run()


@command("set")
def set_(arbiter: Arbiter, props: Props) -> HandlerResult:
    """Change options of a watcher; each key takes effect at once (or is refused)."""
    watcher = props.watcher(arbiter)
    options = props.mapping("options")
    if not options:
        raise MessageError("message invalid 'options' is empty")
    changes = parse_set_options(watcher, options)

    async def run() -> ReplyFields:
        await apply_changes(watcher, changes)
        return None

    return run()
