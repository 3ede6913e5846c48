"""``reloadconfig``: re-read the config file and apply the smallest difference.

Upstream restarts every watcher on any ``[circus]`` change, always restarts
plugins and deletes the watchers added at runtime. Here, per watcher:

* unchanged → untouched (same pids);
* only ``numprocesses`` changed → the count is adjusted in place;
* only options that can change live → applied as ``set`` would (a graceful
  reload when the command line or environment changed);
* anything else → stopped, re-created from the file and started;
* gone from the file → stopped and removed; new in the file → created and
  started (no ``add``/``remove`` events, as upstream);
* added at runtime with ``add`` → kept, unless the file now names it;
* ``[plugin:NAME]`` sections gone → their watcher stops; changed → restarted
  with the new command line; new (and active) → started;
* sockets added, removed or changed → rebound, and only the watchers using
  them are stopped and started again (``reload_sockets``).

Every new watcher and live change is built before anything is touched, so a
file that no longer loads, or a watcher that cannot be created, changes nothing.
Structural operations of one arbiter (this, reload, start/stop/restart of
several watchers) are serialised by ``Arbiter.lock``; they queue, never fail.
Which ``[circus]`` options apply live is their ``live`` kind in ``CIRCUS_OPTIONS``;
which watcher options do, theirs in ``WATCHER_OPTIONS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from circus._base.parsers import parse_int
from circus._reconfig.live_options import Change, apply_changes, discard, is_live, prepare
from circus._reconfig.reload_sockets import plan_sockets, swap_sockets, users
from circus._setup.plugins import is_active, plugin_watcher, watcher_name
from circus.config import load_config
from circus.config._options import CIRCUS_OPTIONS
from circus.errors import CommandError, ConfigError, ConflictError, MessageError
from circus.watcher import Watcher

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.config import CircusConfig

logger = logging.getLogger("circus")


def load_new_config(arbiter: Arbiter) -> CircusConfig:
    """Read the arbiter's config file again.

    Raises:
        MessageError: (errno 3) there is no file, or it does not load; the
            reason is the config error text.
    """
    current = arbiter.config
    if current is None:
        raise MessageError("reloadconfig: this arbiter was not started from a config file")
    try:
        return load_config(current.path)
    except ConfigError as exc:
        raise MessageError(str(exc)) from None
    except OSError as exc:
        raise MessageError(f"reloadconfig: cannot read {current.path}: {exc}") from None


@dataclass
class Plan:
    """What a reload will do, fully built before anything changes."""

    remove: list[Watcher] = field(default_factory=list)
    recreate: list[tuple[Watcher, Watcher]] = field(default_factory=list)  # (old, new)
    create: list[Watcher] = field(default_factory=list)
    resize: list[tuple[Watcher, int]] = field(default_factory=list)
    live: list[tuple[Watcher, list[Change]]] = field(default_factory=list)


def _by_name(items: Iterable[Mapping[str, object]]) -> dict[str, Mapping[str, object]]:
    return {str(item["name"]).lower(): item for item in items}


def _differences(old: Mapping[str, object], new: Mapping[str, object]) -> set[str]:
    return {key for key in set(old) | set(new) if old.get(key) != new.get(key)}


def _build(options: Mapping[str, object], path: str) -> Watcher:
    return Watcher.load_from_config(options, path)


def plan(arbiter: Arbiter, new: CircusConfig) -> Plan:
    """Compare the loaded config with ``new`` and build every object the reload needs."""
    result = Plan()
    old_conf = _by_name(arbiter.config.watchers if arbiter.config is not None else ())
    new_conf = _by_name(new.watchers)
    running = {w.name.lower(): w for w in arbiter.watchers}
    try:
        for name, watcher in running.items():
            if name not in new_conf:
                if name in old_conf:
                    result.remove.append(watcher)  # else: added at runtime, kept
                continue
            if name not in old_conf:
                # Added at runtime and now named by the file: the file wins.
                result.recreate.append((watcher, _build(new_conf[name], new.path)))
                continue
            changed = _differences(old_conf[name], new_conf[name])
            if not changed:
                continue
            if changed == {"numprocesses"}:
                result.resize.append((watcher, parse_int(new_conf[name]["numprocesses"])))
            elif all(is_live(key) for key in changed):
                changes = [Change(key, new_conf[name].get(key), [key]) for key in sorted(changed)]
                try:
                    prepare(watcher, changes)
                except (MessageError, ValueError):
                    result.recreate.append((watcher, _build(new_conf[name], new.path)))
                else:
                    result.live.append((watcher, changes))
            else:
                result.recreate.append((watcher, _build(new_conf[name], new.path)))
        for name, options in new_conf.items():
            if name not in running:
                result.create.append(_build(options, new.path))
        _plan_plugins(arbiter, new, running, result)
    except ConfigError as exc:
        for _, changes in result.live:
            discard(changes)
        raise MessageError(str(exc)) from None
    return result


def _active_plugins(config: CircusConfig | None) -> dict[str, Mapping[str, object]]:
    sections = config.plugins if config is not None else ()
    return {watcher_name(s).lower(): s for s in sections if is_active(s)}


def _plan_plugins(arbiter: Arbiter, new: CircusConfig, running: Mapping[str, Watcher],
                  result: Plan) -> None:
    """Plugins whose section went away stop, changed ones restart, new ones start.

    A plugin's keys are its own, never live options of its watcher, so any
    change to its section means a new process with a new command line.
    """
    old_plugins = _active_plugins(arbiter.config)
    new_plugins = _active_plugins(new)
    for name, section in old_plugins.items():
        watcher = running.get(name)
        if watcher is None:
            continue
        if name not in new_plugins:
            result.remove.append(watcher)
        elif dict(section) != dict(new_plugins[name]):
            result.recreate.append((watcher, plugin_watcher(arbiter, new_plugins[name])))
    for name, section in new_plugins.items():
        if name not in running:
            result.create.append(plugin_watcher(arbiter, section))


def _apply_circus(arbiter: Arbiter, old: Mapping[str, object],
                  new: Mapping[str, object]) -> None:
    for key in sorted(_differences(old, new)):
        option = CIRCUS_OPTIONS.get(key)
        if option is not None and option.live is not None:
            value = new.get(key)
            logger.info("reloadconfig: [circus] %s = %s", key, value)
            if key == "loglevel":
                if value:
                    arbiter.loglevel = str(value)
                    logging.getLogger().setLevel(str(value).upper())
            else:
                setattr(arbiter, key, value)
        else:
            logger.warning("reloadconfig: [circus] %s changed; restart circusd to apply it", key)


async def reload_config(arbiter: Arbiter, config: CircusConfig | None = None) -> None:
    """Apply the difference between the loaded config and ``config`` (default: the file)."""
    async with arbiter.lock:
        new = load_new_config(arbiter) if config is None else config
        steps = plan(arbiter, new)
        old = arbiter.config
        try:
            sockets = plan_sockets(old, new)
        except MessageError:
            for _, changes in steps.live:
                discard(changes)
            raise
        if old is not None:
            _apply_circus(arbiter, old.circus, new.circus)
        arbiter.config = new
        leaving = [*steps.remove, *(old_w for old_w, _ in steps.recreate)]
        # Processes holding a socket that changes must let go of it before the rebind.
        bounced = [w for w in users(arbiter, sockets.touched) if w not in leaving]
        restart = [w for w in bounced if w.status() != "stopped"]
        await asyncio.gather(*(_retire(arbiter, w) for w in leaving),
                             *(w.stop() for w in restart))
        errors = swap_sockets(arbiter, sockets) if sockets else []
        if sockets:
            arbiter.arm_on_demand(bounced)
        recreated = [w for _, w in steps.recreate if _adopt(arbiter, w)]
        arbiter.arm_on_demand(recreated)
        await arbiter.start_watchers(recreated)
        for watcher in sorted(restart, key=lambda w: w.priority, reverse=True):
            await watcher.start()
        outcomes = await asyncio.gather(
            *(w.set_numprocesses(count) for w, count in steps.resize),
            *(apply_changes(w, changes, notify=False) for w, changes in steps.live),
            return_exceptions=True,
        )
        # A gated reload that rolled back (health checks) fails that watcher
        # only: the rest of the file is still applied, and the reply says why.
        for outcome in outcomes:
            if isinstance(outcome, CommandError):
                errors.append(str(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
        created = [w for w in steps.create if _adopt(arbiter, w)]
        arbiter.arm_on_demand(created)
        await arbiter.start_watchers(created)
        logger.info("reloadconfig: %d removed, %d re-created, %d resized, %d changed live, "
                    "%d new, %d sockets closed, %d bound", len(steps.remove),
                    len(steps.recreate), len(steps.resize), len(steps.live), len(steps.create),
                    len(sockets.close), len(sockets.bind) - len(errors))
        if errors:
            raise MessageError("reloadconfig: applied, but " + "; ".join(errors))


async def _retire(arbiter: Arbiter, watcher: Watcher) -> None:
    await watcher.stop()
    arbiter.drop_watcher(watcher)


def _adopt(arbiter: Arbiter, watcher: Watcher) -> bool:
    try:
        arbiter.adopt_watcher(watcher)
    except ConflictError:
        # An ``add`` of the same name landed while this reload ran; it stays.
        logger.warning("reloadconfig: watcher %s was added meanwhile; keeping that one",
                       watcher.name)
        return False
    return True
