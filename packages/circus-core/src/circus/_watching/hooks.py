"""Hooks: user callables run at named points of a watcher's life.

A hook is given as a dotted path or as a callable, with an "ignore errors"
flag. Plain functions run in a worker thread so a slow hook never stalls the
event loop; coroutine functions run on the loop. Either way a hook that
outlives its timeout is reported as a failure and the daemon moves on.

Where a dotted path is looked for, in order (:func:`resolve_callable`):

1. the watcher's ``working_dir`` (borrowed for the import only);
2. ``sys.path``, which includes every entry of a ``PYTHONPATH`` the watcher's
   environment sets (``[env]``, ``[env:NAME]``, ``add``'s ``env``): upstream
   appends those to circusd's own ``sys.path`` (#477, #481) and so do we;
3. ours only: the directory of the config file circusd loaded and the
   directory circusd was started from (:func:`add_search_dir`). A directory
   that supplies a hook module stays on ``sys.path`` so the module's own
   imports keep working.

A name found nowhere is an error listing every directory searched.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.machinery
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Protocol

from circus._base.events import EventPayload
from circus.config import HOOK_NAMES

logger = logging.getLogger("circus")

# Hooks whose result never changes what happens next.
_RESULT_IGNORED = frozenset(
    {"before_stop", "after_stop", "after_signal", "before_reap", "after_reap", "extended_stats"}
)
# Hooks whose exceptions are only reported (upstream's implicit ignore flag):
# a crashing before_signal must not block a stop.
_ERRORS_IGNORED = _RESULT_IGNORED | {"before_signal"}

HookCallable = Callable[..., object]
"""A hook: called with ``watcher``, ``arbiter``, ``hook_name`` and the hook's own keywords."""

HookSpec = tuple[HookCallable | str, bool]


class HookOwner(Protocol):
    """What running a hook needs of its watcher (a :class:`~circus.watcher.Watcher`).

    The watcher itself and its arbiter are handed to the hook as they are.
    """

    @property
    def name(self) -> str:
        """The watcher's name."""
        ...

    @property
    def arbiter(self) -> object:
        """The arbiter the watcher belongs to, or None."""
        ...

    def notify_event(self, topic: str, msg: EventPayload) -> None:
        """Publish event ``topic`` for the watcher."""
        ...


def _start_dir() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None  # started from a directory that no longer exists


# Taken at import, before circusd --daemon moves to "/", so that a hook
# resolved later (by `add` or `reloadconfig`) still finds the start directory.
_START_DIR = _start_dir()
_search_dirs: list[str] = []
# What hook lookup appended to sys.path; copy_path leaves these out.
_appended: set[str] = set()


def _append_to_sys_path(path: str) -> None:
    if path not in sys.path:
        sys.path.append(path)
        _appended.add(path)


def daemon_sys_path() -> list[str]:
    """circusd's ``sys.path`` without what hook lookup appended to it.

    ``copy_path`` sends this, so one watcher's ``PYTHONPATH`` or virtualenv
    never leaks into another watcher's children. (Upstream sent ``sys.path`` as
    it was when the watcher was created, so it depended on the order in which
    watchers were created.)
    """
    return [path for path in sys.path if path not in _appended]


def add_search_dir(directory: str) -> None:
    """Look for hook modules in ``directory`` too, after ``sys.path``.

    circusd adds the directory of its config file, so a hook module next to
    the config is found, whatever directory circusd runs in.
    """
    directory = os.path.abspath(directory)
    if directory not in _search_dirs:
        _search_dirs.append(directory)


def search_dirs() -> list[str]:
    """The directories searched after ``sys.path``: config directories, then the start one."""
    found = list(_search_dirs)
    if _START_DIR is not None and _START_DIR not in found:
        found.append(_START_DIR)
    return found


def add_import_paths(pythonpath: str | None, base: str | None = None) -> None:
    """Append each entry of a ``PYTHONPATH`` value to circusd's ``sys.path``.

    As upstream (#477, #481), so hooks can live there. Relative entries are
    taken from ``base`` (the watcher's working_dir: where its child resolves
    them), else from the current directory; empty ones are skipped.
    """
    for entry in (pythonpath or "").split(os.pathsep):
        if not entry.strip():
            continue
        path = os.path.abspath(os.path.join(base or os.getcwd(), os.path.expanduser(entry)))
        if path not in sys.path:
            _append_to_sys_path(path)
            logger.debug("added %s (a PYTHONPATH entry) to sys.path", path)


def _not_found(exc: ModuleNotFoundError, module_name: str) -> bool:
    """True if ``exc`` says ``module_name`` or one of its parents does not exist.

    False when the module exists but one of its own imports is missing.
    """
    parts = module_name.split(".")
    return exc.name in {".".join(parts[: i + 1]) for i in range(len(parts))}


def _import_from(module_name: str, dirs: Iterable[str]) -> ModuleType | None:
    """Import ``module_name`` from the first of ``dirs`` that has its top package.

    That directory is appended to ``sys.path`` for good. Returns None if no
    directory has it.
    """
    top = module_name.partition(".")[0]
    importlib.invalidate_caches()  # the module may have been written since the last look
    for directory in dirs:
        if importlib.machinery.PathFinder.find_spec(top, [directory]) is None:
            continue
        if directory not in sys.path:
            _append_to_sys_path(directory)
            logger.info("hook module %s found in %s, now on sys.path", module_name, directory)
        return importlib.import_module(module_name)
    return None


def resolve_callable(path: str, working_dir: str | None = None) -> HookCallable:
    """Import ``package.module.function``: ``working_dir`` first, then ``sys.path``,
    then :func:`search_dirs`.

    Raises:
        ValueError: the path is not dotted, the module cannot be found (the
            message lists every directory searched) or fails to import, or the
            attribute is missing or not callable.
    """
    module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"hook {path!r} is not a dotted path such as mypkg.hooks.check")
    added = working_dir if working_dir is not None and working_dir not in sys.path else None
    module: ModuleType | None
    try:
        if added is not None:
            sys.path.insert(0, added)
        try:
            module = importlib.import_module(module_name)
        finally:
            if added is not None:
                sys.path.remove(added)
    except ModuleNotFoundError as exc:
        if not _not_found(exc, module_name):
            raise ValueError(f"cannot import hook {path!r}: {exc}") from exc
        try:
            module = _import_from(module_name, search_dirs())
        except Exception as inner:
            raise ValueError(f"cannot import hook {path!r}: {inner}") from inner
        if module is None:
            candidates = [*([working_dir] if working_dir else []), *sys.path, *search_dirs()]
            searched = dict.fromkeys(p or os.curdir for p in candidates)
            raise ValueError(
                f"cannot import hook {path!r}: no module named {exc.name!r} in any of "
                f"{', '.join(searched)}; put it in one of them, or add its directory to "
                "PYTHONPATH in [env] or [env:NAME]"
            ) from exc
    except Exception as exc:
        raise ValueError(f"cannot import hook {path!r}: {exc}") from exc
    target: object
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"hook {path!r}: module {module_name!r} has no {attr!r}") from None
    if not callable(target):
        raise ValueError(f"hook {path!r} is not callable")
    return target


class Hooks:
    """The resolved hooks of one watcher."""

    def __init__(
        self,
        specs: Mapping[str, HookSpec | HookCallable | str] | None,
        *,
        working_dir: str | None,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Resolve ``specs`` (hook name → dotted path or callable, or (that, ignore)).

        ``env`` is the environment of the watcher's children: its
        ``PYTHONPATH`` joins ``sys.path`` first, as upstream does.

        Raises:
            ValueError: an unknown hook name, or a hook that does not resolve.
        """
        if env is not None:
            add_import_paths(env.get("PYTHONPATH"), working_dir)
        self.timeout = timeout
        self._hooks: dict[str, tuple[HookCallable, bool]] = {}
        for name, spec in (specs or {}).items():
            if name not in HOOK_NAMES:
                raise ValueError(f"unknown hook {name!r}; valid hooks: {', '.join(HOOK_NAMES)}")
            if isinstance(spec, tuple):
                target, ignore = spec
            else:
                target, ignore = spec, False
            try:
                func = resolve_callable(target, working_dir) if isinstance(target, str) else target
            except ValueError as exc:
                # Name the option too, so a config error points at the exact line.
                raise ValueError(f"hooks.{name} = {target}: {exc}") from exc
            self._hooks[name] = (func, bool(ignore))

    def __contains__(self, name: object) -> bool:
        return name in self._hooks

    def specs(self) -> dict[str, tuple[HookCallable, bool]]:
        """The resolved hooks, by name."""
        return dict(self._hooks)

    async def run(self, watcher: HookOwner, name: str, **extra: object) -> bool:
        """Run hook ``name``; return whether the caller should go on.

        No hook means True. A raising or timed-out hook emits ``hook_failure``
        and returns its ignore flag; a hook returning a false value returns False.
        """
        entry = self._hooks.get(name)
        if entry is None:
            return True
        func, ignore = entry
        kwargs = {"watcher": watcher, "arbiter": watcher.arbiter, "hook_name": name, **extra}
        started = time.monotonic()
        try:
            if inspect.iscoroutinefunction(func):
                result = await asyncio.wait_for(func(**kwargs), self.timeout)
            else:
                loop = asyncio.get_running_loop()
                call = functools.partial(func, **kwargs)
                result = await asyncio.wait_for(loop.run_in_executor(None, call), self.timeout)
        except asyncio.TimeoutError:
            error = f"hook {name} timed out after {self.timeout:g}s"
            return self._failed(watcher, name, error, ignore)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.exception("hook %s of watcher %s failed", name, watcher.name)
            return self._failed(watcher, name, error, ignore)
        logger.debug("hook %s of %s took %.3fs", name, watcher.name, time.monotonic() - started)
        watcher.notify_event("hook_success", {"name": name})
        if name in _RESULT_IGNORED:
            return True
        return bool(result)

    def _failed(self, watcher: HookOwner, name: str, error: str, ignore: bool) -> bool:
        logger.error("hook %s of watcher %s failed: %s", name, watcher.name, error)
        watcher.notify_event("hook_failure", {"name": name, "error": error})
        return ignore or name in _ERRORS_IGNORED
