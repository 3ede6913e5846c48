"""Hooks: user callables run at named points of a watcher's life.

A hook is given as a dotted path (importable from the watcher's working_dir
or PYTHONPATH) or as a callable, with an "ignore errors" flag. Plain functions
run in a worker thread so a slow hook never stalls the event loop; coroutine
functions run on the loop. Either way a hook that outlives its timeout is
reported as a failure and the daemon moves on.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from circus.watcher import Watcher

logger = logging.getLogger("circus")

HOOK_NAMES: tuple[str, ...] = (
    "before_start",
    "after_start",
    "before_spawn",
    "after_spawn",
    "before_stop",
    "after_stop",
    "before_signal",
    "after_signal",
    "before_reap",
    "after_reap",
    "extended_stats",
)

# Hooks whose result never changes what happens next.
_RESULT_IGNORED = frozenset(
    {"before_stop", "after_stop", "after_signal", "before_reap", "after_reap", "extended_stats"}
)
# Hooks whose exceptions are only reported (upstream's implicit ignore flag):
# a crashing before_signal must not block a stop.
_ERRORS_IGNORED = _RESULT_IGNORED | {"before_signal"}

HookSpec = tuple[Callable[..., Any] | str, bool]


def resolve_callable(path: str, working_dir: str | None = None) -> Callable[..., Any]:
    """Import ``package.module.function`` (trying ``working_dir`` first)."""
    module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"hook {path!r} is not a dotted path such as mypkg.hooks.check")
    added = working_dir is not None and working_dir not in sys.path
    if added:
        sys.path.insert(0, working_dir)  # type: ignore[arg-type]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(f"cannot import hook {path!r}: {exc}") from exc
    finally:
        if added:
            sys.path.remove(working_dir)  # type: ignore[arg-type]
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"hook {path!r}: module {module_name!r} has no {attr!r}") from None
    if not callable(target):
        raise ValueError(f"hook {path!r} is not callable")
    return target  # type: ignore[no-any-return]


class Hooks:
    """The resolved hooks of one watcher."""

    def __init__(
        self,
        specs: Mapping[str, HookSpec | Callable[..., Any] | str] | None,
        *,
        working_dir: str | None,
        timeout: float,
    ) -> None:
        self.timeout = timeout
        self._hooks: dict[str, tuple[Callable[..., Any], bool]] = {}
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

    def specs(self) -> dict[str, tuple[Callable[..., Any], bool]]:
        """The resolved hooks, by name."""
        return dict(self._hooks)

    async def run(self, watcher: Watcher, name: str, **extra: Any) -> bool:
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

    def _failed(self, watcher: Watcher, name: str, error: str, ignore: bool) -> bool:
        logger.error("hook %s of watcher %s failed: %s", name, watcher.name, error)
        watcher.notify_event("hook_failure", {"name": name, "error": error})
        return ignore or name in _ERRORS_IGNORED
