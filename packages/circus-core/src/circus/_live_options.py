"""Changing a running watcher's options (the ``set`` command and ``reloadconfig``).

One table, :data:`LIVE`, says how each option takes effect on a running
watcher. Parsing (:func:`parse_set_options`) is synchronous so a bad request is
refused before anything changes; applying (:func:`apply_changes`) runs under
the watcher lock so it queues behind other commands on that watcher.

Kinds of effect:

* ``attr``: read at the next use (timings, signals, retry policy);
* ``manage``: a convergence pass follows (numprocesses, respawn);
* ``spawn``: used when a process is started (cmd, env, uid, rlimits, ...), so
  a running watcher is reloaded gracefully and new processes use the value;
* ``max_age``: the expiry timers of running processes are re-drawn;
* ``stream``: the stream object is swapped; pipes keep flowing into the new one;
* ``hooks``: the hook callables are re-imported;
* ``hook_timeout``: the hooks' timeout changes.

Options missing from the table cannot change while a watcher exists; ``set``
refuses them with an error naming the option instead of ignoring them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from circus._hooks import HOOK_NAMES, Hooks
from circus._spawn import build_env
from circus._values import parse_bool, parse_int, parse_size
from circus.config._options import WATCHER_OPTIONS
from circus.errors import CommandError, MessageError

if TYPE_CHECKING:
    from circus.watcher import Watcher

LIVE: Mapping[str, str] = {
    "numprocesses": "manage",
    "respawn": "manage",
    "warmup_delay": "attr",
    "send_hup": "attr",
    "stop_signal": "attr",
    "stop_children": "attr",
    "graceful_timeout": "attr",
    "max_retry": "attr",
    "retry_in": "attr",
    "backoff": "attr",
    "min_uptime": "attr",
    "priority": "attr",
    "autostart": "attr",
    "check_flapping": "attr",
    "singleton": "attr",
    "max_age_variance": "max_age",
    "max_age": "max_age",
    "hook_timeout": "hook_timeout",
    "cmd": "spawn",
    "args": "spawn",
    "shell": "spawn",
    "shell_args": "spawn",
    "executable": "spawn",
    "working_dir": "spawn",
    "uid": "spawn",
    "gid": "spawn",
    "env": "spawn",
    "copy_env": "spawn",
    "copy_path": "spawn",
    "virtualenv": "spawn",
    "virtualenv_py_ver": "spawn",
    "close_child_stdin": "spawn",
    "close_child_stdout": "spawn",
    "close_child_stderr": "spawn",
    "rlimits": "spawn",
    "umask": "spawn",
    "stdout_stream": "stream",
    "stderr_stream": "stream",
    "hooks": "hooks",
}
"""Watcher attribute → how a new value takes effect on a running watcher."""

_STREAMS = ("stdout_stream", "stderr_stream")


@dataclass
class Change:
    """One validated change: the attribute, its new value, the request keys behind it."""

    attr: str
    value: Any
    keys: list[str]
    prepared: Any = None  # a built stream or Hooks object, ready to swap in


def _refuse(key: str, reason: str) -> MessageError:
    return MessageError(f"cannot set {key!r}: {reason}")


def _parse_plain(key: str, value: Any) -> Any:
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


def _parse_env(key: str, value: Any) -> dict[str, str]:
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


def _stream_value(key: str, sub: str, value: Any) -> Any:
    try:
        if sub == "max_bytes":
            return parse_size(value)
        if sub in ("backup_count", "rotate_interval"):
            return parse_int(value)
        if sub == "utc":
            return parse_bool(value)
    except ValueError as exc:
        raise _refuse(key, f"{exc} (got {value!r})") from None
    return value


def _rlimit(key: str, value: Any) -> tuple[str, int | None]:
    import resource

    name = key[len("rlimit_"):]
    if not name or not hasattr(resource, "RLIMIT_" + name.upper()):
        raise _refuse(key, f"unknown resource limit {name!r}")
    if value is None or (isinstance(value, str) and value.strip().lower() in (
            "", "unlimited", "infinity")):
        return name, None
    try:
        limit = parse_int(value)
    except ValueError:
        raise _refuse(key, f"expected an integer or null (unlimited), got {value!r}") from None
    if limit < 0:
        raise _refuse(key, "expected a non-negative integer or null (unlimited)")
    return name, limit


def _hook_spec(key: str, value: Any) -> tuple[str, bool] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # removes the hook
    if isinstance(value, (list, tuple)) and len(value) == 2:
        target, flag = value
    elif isinstance(value, str):
        target, _, flag = value.partition(",")
    else:
        raise _refuse(key, "expected 'dotted.path[,ignore_failure]'")
    try:
        ignore = parse_bool(flag) if str(flag).strip() else False
    except ValueError as exc:
        raise _refuse(key, f"ignore_failure flag: {exc}") from None
    return str(target).strip(), ignore


class _Collector:
    """Groups request keys into one change per watcher attribute."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.changes: dict[str, Change] = {}

    def put(self, attr: str, value: Any, key: str) -> Change:
        change = self.changes.get(attr)
        if change is None:
            change = self.changes[attr] = Change(attr, value, [key])
        else:
            change.value = value
            change.keys.append(key)
        return change

    def merged(self, attr: str) -> dict[str, Any]:
        change = self.changes.get(attr)
        if change is not None:
            return dict(change.value)
        if attr == "hooks":
            return dict(self.watcher.hooks.specs())
        return dict(getattr(self.watcher, attr) or {})

    def add(self, key: str, value: Any) -> None:
        watcher = self.watcher
        prefix, dot, rest = key.partition(".")
        if key in _STREAMS:
            if not isinstance(value, dict):
                raise _refuse(key, "expected an object with a 'class' key")
            self.put(key, dict(value), key)
        elif dot and prefix in _STREAMS:
            spec = self.merged(prefix)
            spec[rest] = _stream_value(key, rest, value)
            self.put(prefix, spec, key)
        elif key == "hooks":
            if not isinstance(value, dict):
                raise _refuse(key, "expected an object of hook name → 'dotted.path[,flag]'")
            for hook, target in value.items():
                self.add(f"hooks.{hook}", target)
        elif dot and prefix == "hooks":
            if rest not in HOOK_NAMES:
                raise _refuse(key, f"unknown hook {rest!r}; valid hooks: {', '.join(HOOK_NAMES)}")
            hooks = self.merged("hooks")
            hook_spec = _hook_spec(key, value)
            if hook_spec is None:
                hooks.pop(rest, None)
            else:
                hooks[rest] = hook_spec
            self.put("hooks", hooks, key)
        elif key.startswith("rlimit_"):
            limits = self.merged("rlimits")
            name, limit = _rlimit(key, value)
            limits[name] = limit
            self.put("rlimits", limits, key)
        elif key == "env":
            self.put("env", _parse_env(key, value), key)
        elif key in LIVE:
            self.put(key, _parse_plain(key, value), key)
        elif key in WATCHER_OPTIONS:
            raise _refuse(key, "this option cannot change while the watcher exists; change it "
                               "in the config file and run reloadconfig")
        elif key in watcher.options:
            self.put(key, value if isinstance(value, str) else str(value), key)
        elif key == "name":
            raise _refuse(key, "a watcher cannot be renamed; add a new one and rm this one")
        else:
            raise MessageError(f"unknown option {key!r}")


def parse_set_options(watcher: Watcher, options: Mapping[str, Any]) -> list[Change]:
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
    if singleton and count > 1:
        raise CommandError(f"watcher {watcher.name} is a singleton: numprocesses cannot be "
                           f"{count}")
    copy_env = final.get("copy_env", watcher.copy_env)
    if final.get("copy_path", watcher.copy_path) and not copy_env:
        raise MessageError("cannot set 'copy_path': it requires copy_env")
    if "virtualenv" in final or "virtualenv_py_ver" in final:
        try:  # the next spawn would fail on a virtualenv without site-packages
            build_env(None, copy_env=False, copy_path=False,
                      virtualenv=final.get("virtualenv", watcher.virtualenv),
                      virtualenv_py_ver=final.get("virtualenv_py_ver", watcher.virtualenv_py_ver))
        except ValueError as exc:
            raise MessageError(f"cannot set 'virtualenv': {exc}") from None
    for change in changes:
        if change.attr == "hooks":
            try:
                change.prepared = Hooks(change.value, working_dir=final.get(
                    "working_dir", watcher.working_dir), timeout=final.get(
                    "hook_timeout", watcher.hooks.timeout), env=final.get("env", watcher.env))
            except ValueError as exc:
                raise _refuse(change.keys[0], str(exc)) from None
        elif change.attr in _STREAMS and change.value:
            from circus.stream import build_stream

            try:
                change.prepared = build_stream(change.value)
            except (ValueError, OSError) as exc:
                raise _refuse(change.keys[0], str(exc)) from None


def discard(changes: list[Change]) -> None:
    """Close streams built by :func:`prepare` for changes that will not be applied."""
    for change in changes:
        close = getattr(change.prepared, "close", None)
        if change.attr in _STREAMS and close is not None:
            close()


async def apply_changes(watcher: Watcher, changes: list[Change], *, notify: bool = True) -> None:
    """Apply validated changes to ``watcher`` (under its lock); one ``updated`` per key."""
    async with watcher._lock:
        await apply_locked(watcher, changes, notify=notify)


async def apply_locked(watcher: Watcher, changes: list[Change], *, notify: bool = True) -> None:
    """:func:`apply_changes` for a caller already holding the watcher lock."""
    from circus._reload import reload_watcher
    from circus.watcher import WatcherState

    kinds = set()
    for change in changes:
        kind = LIVE.get(change.attr, "free")
        kinds.add(kind)
        if kind == "free":
            if change.value is None:
                watcher.options.pop(change.attr, None)
            else:
                watcher.options[change.attr] = change.value
        elif kind == "hooks":
            watcher.hooks = change.prepared
        elif kind == "hook_timeout":
            watcher.hooks.timeout = change.value
        elif kind == "stream":
            pipes_before = (watcher._output.pipe_stdout, watcher._output.pipe_stderr)
            setattr(watcher, change.attr, dict(change.value))
            watcher._output.swap(change.attr[: -len("_stream")], change.prepared)
            if (watcher._output.pipe_stdout, watcher._output.pipe_stderr) != pipes_before:
                kinds.add("spawn")  # running processes have no pipe to the new stream
        else:
            value = change.value
            setattr(watcher, change.attr, dict(value) if isinstance(value, Mapping) else value)
    if notify:
        for change in changes:
            for key in change.keys:
                watcher.notify_event("updated", {"key": key})
    running = watcher.state in (WatcherState.ACTIVE, WatcherState.STARTING)
    if not running:
        return
    if "max_age" in kinds:
        _redraw_expiry(watcher)
    if "spawn" in kinds:
        watcher._child_env = watcher.build_env()
        if watcher.state is WatcherState.ACTIVE:
            # A SIGHUP reload keeps the old processes, which never see the new
            # command or environment: new values need new processes.
            send_hup, watcher.send_hup = watcher.send_hup, False
            try:
                await reload_watcher(watcher, graceful=True, sequential=False)
            finally:
                watcher.send_hup = send_hup
    await watcher._manage()


def _redraw_expiry(watcher: Watcher) -> None:
    """Re-arm the max_age timers of the running processes with the new values."""
    import asyncio

    for timer in watcher._timers.values():
        timer.cancel()
    watcher._timers.clear()
    if not watcher.max_age:
        return
    loop = asyncio.get_running_loop()
    for proc in list(watcher.processes.values()):
        lifetime = watcher.max_age + random.uniform(0, watcher.max_age_variance)
        delay = max(lifetime - proc.age(), 0)
        watcher._timers[proc.pid] = loop.call_later(delay, watcher._expire, proc.pid)


def parse_new_options(options: Mapping[str, Any]) -> dict[str, Any]:
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
        key = str(raw_key).strip().lower()
        prefix, dot, rest = key.partition(".")
        if key in _STREAMS:
            if not isinstance(value, dict):
                raise _refuse(key, "expected an object with a 'class' key")
            kwargs.setdefault(key, {}).update(value)
        elif dot and prefix in _STREAMS and rest:
            kwargs.setdefault(prefix, {})[rest] = _stream_value(key, rest, value)
        elif key == "hooks":
            if not isinstance(value, dict):
                raise _refuse(key, "expected an object of hook name → 'dotted.path[,flag]'")
            for hook, spec in value.items():
                _new_hook(kwargs, f"hooks.{hook}", spec)
        elif dot and prefix == "hooks":
            _new_hook(kwargs, key, value)
        elif key.startswith("rlimit_"):
            name, limit = _rlimit(key, value)
            kwargs.setdefault("rlimits", {})[name] = limit
        elif key == "env":
            kwargs["env"] = _parse_env(key, value)
        elif key in WATCHER_OPTIONS and key != "cmd":
            kwargs[key] = _parse_plain(key, value)
        elif dot and rest:
            kwargs[key] = value if isinstance(value, str) else str(value)
        else:
            raise MessageError(f"unknown option {key!r}")
    return kwargs


def _new_hook(kwargs: dict[str, Any], key: str, value: Any) -> None:
    name = key[len("hooks."):]
    if name not in HOOK_NAMES:
        raise _refuse(key, f"unknown hook {name!r}; valid hooks: {', '.join(HOOK_NAMES)}")
    spec = _hook_spec(key, value)
    if spec is not None:
        kwargs.setdefault("hooks", {})[name] = spec
