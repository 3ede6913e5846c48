"""Changing a running watcher's options (``set``, ``reloadconfig``) and building new ones (``add``).

How each option takes effect on a running watcher is its ``live`` kind in
``circus.config._options`` (``WATCHER_OPTIONS`` and ``WATCHER_COMPOUND``);
which key feeds which option, and the rules its value obeys, come from the
key router ``circus.config._keys``, which the INI loader uses too. Parsing
(:func:`parse_set_options`, :func:`parse_new_options`) is synchronous so a bad
request is refused before anything changes; applying (:func:`apply_changes`)
goes through ``Watcher.reconfigure``, under the watcher lock, so it queues
behind other commands on that watcher.

Options whose live kind is ``None`` cannot change while a watcher exists;
``set`` refuses them with an error naming the option instead of ignoring them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from circus._watching.hooks import Hooks, HookSpec
from circus._watching.spawn import build_env
from circus.config._keys import STREAMS, Route, hook_value, rlimit_value, route_key, stream_value
from circus.config._options import WATCHER_COMPOUND, WATCHER_OPTIONS, Option, warn_inert
from circus.errors import CommandError, MessageError
from circus.stream import Stream, build_stream

if TYPE_CHECKING:
    from circus.watcher import Watcher

logger = logging.getLogger("circus")

_T = TypeVar("_T")


def _mapping(value: object) -> Mapping[str, object]:
    """A parsed compound value (stream spec, hooks, rlimits, env): always a mapping."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {value!r}")  # the parsers make one
    return value


def _text(value: object) -> str | None:
    """A parsed text option (None: not set)."""
    return value if value is None or isinstance(value, str) else str(value)


def _env(value: object) -> dict[str, str]:
    return {str(key): str(text) for key, text in _mapping(value).items()}


def _number(value: object) -> float:
    """A parsed duration."""
    if not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")  # the parser makes one
    return float(value)


def _hook_specs(value: object) -> dict[str, HookSpec]:
    """Hooks as ``hook_value`` parsed them, or as the watcher holds them: name → (target, flag)."""
    specs: dict[str, HookSpec] = {}
    for name, spec in _mapping(value).items():
        if not (isinstance(spec, tuple) and len(spec) == 2
                and (isinstance(spec[0], str) or callable(spec[0]))):
            raise TypeError(f"hook {name}: expected (target, flag), got {spec!r}")
        specs[name] = (spec[0], bool(spec[1]))
    return specs


def _option(attr: str) -> Option | None:
    return WATCHER_OPTIONS.get(attr) or WATCHER_COMPOUND.get(attr)


def is_live(key: str) -> bool:
    """Whether a running watcher can take a new value of ``key`` (a watcher-mapping key).

    Free-form keys of plugins always can; ``name`` and options whose live
    kind is None cannot.
    """
    option = _option(key)
    if option is not None:
        return option.live is not None
    return key != "name"


@dataclass
class Change:
    """One validated change: the attribute, its new value, the request keys behind it."""

    attr: str
    value: object  # as the option's parser made it (a dict for streams, hooks, rlimits, env)
    keys: list[str]
    prepared: Hooks | Stream | None = None  # built before anything changes, ready to swap in


def _refuse(key: str, reason: str) -> MessageError:
    return MessageError(f"cannot set {key!r}: {reason}")


def _parse_plain(key: str, value: object) -> object:
    option = WATCHER_OPTIONS[key]
    if isinstance(value, (dict, list)) and key != "args":
        raise _refuse(key, f"expected a single value, got {type(value).__name__}")
    if key == "args" and isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise _refuse(key, "expected a string or a list of strings")
        return list(value)
    try:
        return option.parse(value)
    except ValueError as exc:
        raise _refuse(key, f"{exc} (got {value!r})") from None


def _parse_env(key: str, value: object) -> dict[str, str]:
    if isinstance(value, str):
        # circusctl-style text: A=1,B=2
        pairs = [part for part in value.split(",") if part.strip()]
        env: dict[str, str] = {}
        for pair in pairs:
            name, eq, val = pair.partition("=")
            if not eq or not name.strip():
                raise _refuse(key, f"expected NAME=value pairs separated by commas, got {pair!r}")
            env[name.strip()] = val
        return env
    if not isinstance(value, dict):
        raise _refuse(key, "expected an object of strings")
    for var, text in value.items():
        if not isinstance(text, (str, int, float)) or isinstance(text, bool):
            raise _refuse(key, f"variable {var!r}: expected a string, got {text!r}")
    return {str(var): str(text) for var, text in value.items()}


def _checked(key: str, check: Callable[..., _T], *args: object, got: object = None,
             show: bool = False) -> _T:
    try:
        return check(*args)
    except ValueError as exc:
        raise _refuse(key, f"{exc} (got {got!r})" if show else str(exc)) from None


def _stream_spec(key: str, value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _refuse(key, "expected an object with a 'class' key")
    return {str(sub): _checked(key, stream_value, str(sub), item, got=item, show=True)
            for sub, item in value.items()}


def _routed_value(key: str, route: Route, value: object) -> object:
    """The checked value of a routed key, for set and add alike."""
    if route.kind == "stream_key":
        return _checked(key, stream_value, route.sub, value, got=value, show=True)
    if route.kind == "hook":
        return _checked(key, hook_value, route.sub, value)
    if route.kind == "rlimit":
        return _checked(key, rlimit_value, route.sub, value)
    raise AssertionError(route)  # pragma: no cover - callers route only these kinds here


class _Collector:
    """Groups request keys into one change per watcher attribute."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.changes: dict[str, Change] = {}

    def put(self, attr: str, value: object, key: str) -> Change:
        change = self.changes.get(attr)
        if change is None:
            change = self.changes[attr] = Change(attr, value, [key])
        else:
            change.value = value
            change.keys.append(key)
        return change

    def merged(self, attr: str) -> dict[str, object]:
        change = self.changes.get(attr)
        if change is not None:
            return dict(_mapping(change.value))
        if attr == "hooks":
            return dict(self.watcher.hooks.specs())
        return dict(getattr(self.watcher, attr) or {})

    def add(self, key: str, value: object) -> None:
        route = route_key(key)
        if route.kind == "stream":
            self.put(key, _stream_spec(key, value), key)
        elif route.kind == "hooks":
            if not isinstance(value, dict):
                raise _refuse(key, "expected an object of hook name → 'dotted.path[,flag]'")
            for hook, target in value.items():
                self.add(f"hooks.{hook}", target)
        elif route.kind in ("stream_key", "hook", "rlimit"):
            merged = self.merged(route.attr)
            checked = _routed_value(key, route, value)
            if route.kind == "hook" and checked is None:
                merged.pop(route.sub, None)  # an empty target removes the hook
            else:
                merged[route.sub] = checked
            self.put(route.attr, merged, key)
        elif route.kind == "env":
            self.put("env", _parse_env(key, value), key)
        elif route.kind == "option":
            if WATCHER_OPTIONS[key].live is None:
                raise _refuse(key, "this option cannot change while the watcher exists; change "
                                   "it in the config file and run reloadconfig")
            self.put(key, _parse_plain(key, value), key)
        elif key in self.watcher.options:
            self.put(key, value if isinstance(value, str) else str(value), key)
        elif key == "name":
            raise _refuse(key, "a watcher cannot be renamed; add a new one and rm this one")
        else:
            raise MessageError(f"unknown option {key!r}")


def parse_set_options(watcher: Watcher, options: Mapping[str, object]) -> list[Change]:
    """Validate the ``options`` of a ``set`` request for ``watcher``.

    Raises:
        MessageError: (errno 3) naming the first bad key or value.
        CommandError: (errno 5) for a combination that cannot hold (a singleton
            with more than one process).
    """
    collector = _Collector(watcher)
    for raw_key, value in options.items():
        collector.add(str(raw_key).strip().lower(), value)
    changes = list(collector.changes.values())
    prepare(watcher, changes)
    return changes


def prepare(watcher: Watcher, changes: list[Change]) -> None:
    """Check cross-option rules and build new hooks and streams before anything changes."""
    final = {change.attr: change.value for change in changes}
    singleton = final.get("singleton", watcher.singleton)
    count = final.get("numprocesses", watcher.numprocesses)
    if singleton and isinstance(count, int) and count > 1:
        raise CommandError(f"watcher {watcher.name} is a singleton: numprocesses cannot be "
                           f"{count}")
    copy_env = final.get("copy_env", watcher.copy_env)
    if final.get("copy_path", watcher.copy_path) and not copy_env:
        raise MessageError("cannot set 'copy_path': it requires copy_env")
    if "virtualenv" in final or "virtualenv_py_ver" in final:
        try:  # the next spawn would fail on a virtualenv without site-packages
            build_env(None, copy_env=False, copy_path=False,
                      virtualenv=_text(final.get("virtualenv", watcher.virtualenv)),
                      virtualenv_py_ver=_text(final.get("virtualenv_py_ver",
                                                        watcher.virtualenv_py_ver)))
        except ValueError as exc:
            raise MessageError(f"cannot set 'virtualenv': {exc}") from None
    for change in changes:
        if change.attr == "hooks":
            try:
                change.prepared = Hooks(
                    _hook_specs(change.value),
                    working_dir=_text(final.get("working_dir", watcher.working_dir)),
                    timeout=_number(final.get("hook_timeout", watcher.hooks.timeout)),
                    env=_env(final.get("env", watcher.env)))
            except ValueError as exc:
                raise _refuse(change.keys[0], str(exc)) from None
        elif change.attr in STREAMS and change.value:
            try:
                change.prepared = build_stream(_mapping(change.value))
            except (ValueError, OSError) as exc:
                raise _refuse(change.keys[0], str(exc)) from None


def discard(changes: list[Change]) -> None:
    """Close streams built by :func:`prepare` for changes that will not be applied."""
    for change in changes:
        prepared = change.prepared
        if change.attr in STREAMS and prepared is not None and not isinstance(prepared, Hooks):
            prepared.close()


async def apply_changes(watcher: Watcher, changes: list[Change], *, notify: bool = True) -> None:
    """Apply validated changes to ``watcher`` (under its lock); one ``updated`` per key."""
    await watcher.reconfigure(lambda: _assign(watcher, changes, notify=notify))


def _assign(watcher: Watcher, changes: list[Change], *, notify: bool) -> set[str]:
    """Set the new values (the watcher lock is held); returns their live kinds."""
    kinds: set[str] = set()
    for change in changes:
        option = _option(change.attr)
        if option is None:  # a free-form key of a plugin's
            if change.value is None:
                watcher.options.pop(change.attr, None)
            else:
                watcher.options[change.attr] = change.value
            continue
        assert option.live is not None  # parsing refused the others
        kinds.add(option.live)
        if option.live == "hooks" and isinstance(change.prepared, Hooks):
            watcher.hooks = change.prepared
        elif option.live == "stream":
            stream = change.prepared if not isinstance(change.prepared, Hooks) else None
            if watcher.swap_stream(change.attr, _mapping(change.value), stream):
                kinds.add("spawn")  # running processes have no pipe to the new stream
        elif option.live == "output":
            if watcher.swap_publish_output(bool(change.value)):
                kinds.add("spawn")  # running processes have no pipe to publish from
        else:
            value = change.value
            setattr(watcher, change.attr, dict(value) if isinstance(value, Mapping) else value)
            warn_inert(f"watcher {watcher.name}", WATCHER_OPTIONS, {change.attr: value})
    if notify:
        for change in changes:
            for key in change.keys:
                watcher.notify_event("updated", {"key": key})
    return kinds


def parse_new_options(options: Mapping[str, object]) -> dict[str, Any]:
    """Validate the ``options`` of an ``add`` request into ``Watcher`` keyword arguments.

    Every watcher option is accepted (a new watcher has nothing to change
    live), plus ``env``, ``hooks``, the stream objects and the prefixes
    ``stdout_stream.``, ``stderr_stream.``, ``hooks.`` and ``rlimit_``.
    Dotted free-form keys (``flapping.max_retry``) are kept for plugins.

    Raises:
        MessageError: (errno 3) naming the first bad key or value.
    """
    kwargs: dict[str, Any] = {}
    for raw_key, value in options.items():
        _add_new(kwargs, str(raw_key).strip().lower(), value)
    return kwargs


def _add_new(kwargs: dict[str, Any], key: str, value: object) -> None:
    route = route_key(key)
    if route.kind == "stream":
        kwargs.setdefault(key, {}).update(_stream_spec(key, value))
    elif route.kind == "hooks":
        if not isinstance(value, dict):
            raise _refuse(key, "expected an object of hook name → 'dotted.path[,flag]'")
        for hook, spec in value.items():
            _add_new(kwargs, f"hooks.{hook}", spec)
    elif route.kind in ("stream_key", "hook", "rlimit"):
        checked = _routed_value(key, route, value)
        if checked is not None or route.kind != "hook":  # an empty hook is no hook
            kwargs.setdefault(route.attr, {})[route.sub] = checked
    elif route.kind == "env":
        kwargs["env"] = _parse_env(key, value)
    elif route.kind == "option" and key != "cmd":
        kwargs[key] = _parse_plain(key, value)
    elif route.kind == "free" and key.partition(".")[2]:
        kwargs[key] = value if isinstance(value, str) else str(value)
    else:
        raise MessageError(f"unknown option {key!r}")
