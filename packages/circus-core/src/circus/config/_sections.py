"""Turning one substituted section into the typed mapping the model holds."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ParamSpec, TypeVar

from ..errors import ConfigError
from ._errors import located, suggestion
from ._keys import DOTTED, STREAMS, hook_value, rlimit_value, route_key, stream_value
from ._options import CIRCUS_OPTIONS, HOOK_NAMES, SOCKET_OPTIONS, WATCHER_OPTIONS, Option

logger = logging.getLogger("circus")

_P = ParamSpec("_P")
_T = TypeVar("_T")

_TABLES: dict[str, tuple[str, Mapping[str, Option]]] = {
    "watcher": ("[watcher:NAME]", WATCHER_OPTIONS),
    "socket": ("[socket:NAME]", SOCKET_OPTIONS),
    "circus": ("[circus]", CIRCUS_OPTIONS),
}

# Options holding paths that are relative to the directory of their file.
_PATH_OPTIONS = {"watcher": {"working_dir"}, "socket": {"path"}, "circus": {"pidfile"}}


@dataclass(frozen=True)
class Item:
    """One option of a section: as written, after substitution, and where."""

    key: str
    raw: str
    value: str
    line: int


@dataclass
class SectionData:
    """A section whose values went through ``$(circus.env.X)`` substitution."""

    path: str
    line: int
    header: str
    kind: str
    name: str
    items: list[Item] = field(default_factory=list)

    @property
    def directory(self) -> str:
        """The directory relative paths of this section are resolved against."""
        return os.path.dirname(self.path)

    def error(self, message: str, item: Item | None = None) -> ConfigError:
        """A ConfigError located at ``item`` (or at the section header)."""
        if item is None:
            return located(self.path, self.line, self.header, message)
        return located(self.path, item.line, self.header, message, item.key, item.raw, item.value)


def _resolve(directory: str, value: str) -> str:
    if not value.strip():
        return value
    return os.path.normpath(os.path.join(directory, os.path.expanduser(value.strip())))


def _parse_item(sec: SectionData, item: Item, option: Option) -> object:
    value = item.value
    if item.key in _PATH_OPTIONS.get(sec.kind, ()):
        value = _resolve(sec.directory, value)
    try:
        return option.parse(value)
    except ValueError as exc:
        raise sec.error(str(exc), item) from None


def _unknown(sec: SectionData, item: Item) -> ConfigError:
    label, table = _TABLES[sec.kind]
    for kind, (other_label, other_table) in _TABLES.items():
        if kind != sec.kind and item.key in other_table:
            return sec.error(f"'{item.key}' is a {other_label} option, not a {label} option", item)
    if item.key == "env" and sec.kind == "watcher":
        return sec.error(f"unknown option; put variables in an [env:{sec.name}] section", item)
    candidates = list(table)
    if sec.kind == "watcher":
        candidates += [f"hooks.{hook}" for hook in HOOK_NAMES]
    return sec.error(f"unknown {label} option{suggestion(item.key, candidates)}", item)


def _ignore_unknown(sec: SectionData, item: Item) -> None:
    """Log one line for a key we do not know and go on.

    circus 0.19 loads such a config and never uses the key, so refusing it
    would break configs that run there; a typo still gets its hint.
    """
    logger.warning("%s; ignored, as circus 0.19 ignores it", _unknown(sec, item))


def _typed_options(
    sec: SectionData, items: list[Item], table: Mapping[str, Option]
) -> dict[str, object]:
    result: dict[str, object] = {}
    for item in items:
        result[item.key] = _parse_item(sec, item, table[item.key])
    for name, option in table.items():
        if name not in result:
            if option.required:
                raise sec.error(f"missing required option '{name}'")
            result[name] = option.default
    return result


def build_circus(sections: list[SectionData]) -> Mapping[str, object]:
    """Merge the ``[circus]`` sections; the first file that sets a key wins."""
    result: dict[str, object] = {}
    for sec in sections:
        for item in sec.items:
            if item.key not in CIRCUS_OPTIONS:
                _ignore_unknown(sec, item)
            elif item.key not in result:
                result[item.key] = _parse_item(sec, item, CIRCUS_OPTIONS[item.key])
    for name, option in CIRCUS_OPTIONS.items():
        result.setdefault(name, option.default)
    return MappingProxyType(result)


def _checked(
    sec: SectionData, item: Item, check: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    try:
        return check(*args, **kwargs)
    except ValueError as exc:
        raise sec.error(str(exc), item) from None


def build_watcher(sec: SectionData, env: Mapping[str, str]) -> Mapping[str, object]:
    """Build the ``Watcher(**kwargs)`` mapping of one ``[watcher:NAME]`` section."""
    plain: list[Item] = []
    rlimits: dict[str, int | None] = {}
    hooks: dict[str, tuple[str, bool]] = {}
    streams: dict[str, dict[str, object]] = {stream: {} for stream in STREAMS}
    extra: dict[str, str] = {}
    for item in sec.items:
        route = route_key(item.key)
        if route.kind == "option":
            plain.append(item)
        elif route.kind == "rlimit":
            rlimits[route.sub] = _checked(sec, item, rlimit_value, route.sub, item.value)
        elif route.kind == "hook":
            spec = _checked(sec, item, hook_value, route.sub, item.value)
            if spec is None:  # an empty hook line is a mistake in a file
                raise sec.error("expected a dotted path such as mypkg.hooks.func[, true|false]",
                                item)
            hooks[route.sub] = spec
        elif route.kind == "stream_key":
            value = _checked(sec, item, stream_value, route.sub, item.value)
            if route.sub == "filename":
                value = _resolve(sec.directory, item.value.strip())
            streams[route.attr][route.sub] = value
        elif route.kind == "free":
            extra[item.key] = item.value
        else:  # whole streams, hooks and env are no INI keys ([env:NAME] holds the env)
            _ignore_unknown(sec, item)
    result = _typed_options(sec, plain, WATCHER_OPTIONS)
    count = result["numprocesses"]
    if result["singleton"] and isinstance(count, int) and count > 1:
        item = next(i for i in sec.items if i.key == "numprocesses")
        raise sec.error("a singleton watcher runs at most 1 process", item)
    result.update(extra)
    result["name"] = sec.name
    result["env"] = MappingProxyType(dict(env))
    result["rlimits"] = MappingProxyType(rlimits)
    result["hooks"] = MappingProxyType(hooks)
    for stream, options in streams.items():
        result[stream] = MappingProxyType(options)
    return MappingProxyType(result)


def build_socket(sec: SectionData) -> Mapping[str, object]:
    """Build the mapping of one ``[socket:NAME]`` section (name lowercased)."""
    known: list[Item] = []
    for item in sec.items:
        if item.key in SOCKET_OPTIONS:
            known.append(item)
        else:
            _ignore_unknown(sec, item)
    result = _typed_options(sec, known, SOCKET_OPTIONS)
    given = {item.key for item in known}
    if result["path"] is not None:
        result["family"] = "AF_UNIX"
    elif "port" not in given:
        raise sec.error(f"socket '{sec.name.lower()}' needs host/port or path")
    elif result["family"] == "AF_UNIX":
        raise sec.error("family AF_UNIX needs a path")
    result["name"] = sec.name.lower()
    return MappingProxyType(result)


def build_plugin(sec: SectionData) -> Mapping[str, str]:
    """Build the mapping of one ``[plugin:NAME]`` section: ``use`` plus raw strings."""
    result: dict[str, str] = {"name": sec.name}
    for item in sec.items:
        result[item.key] = item.value
    use = next((item for item in sec.items if item.key == "use"), None)
    if use is None:
        raise sec.error("missing required option 'use' (the dotted path of the plugin class)")
    if not DOTTED.match(use.value.strip()):
        raise sec.error("expected a dotted class path such as circus.plugins.Flapping", use)
    result["use"] = use.value.strip()
    result["name"] = sec.name
    return MappingProxyType(result)
