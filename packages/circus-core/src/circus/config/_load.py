"""Reading the main file and its includes and building a CircusConfig."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import re
from collections import ChainMap
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import ConfigError
from ._check import dependency_problem
from ._errors import located, suggestion
from ._ini import IniFile, Section, parse_ini, read_ini
from ._model import CircusConfig
from ._sections import (
    Item,
    SectionData,
    build_circus,
    build_plugin,
    build_socket,
    build_watcher,
)
from ._subst import EnvLookup, expand_env_value, substitute_circus_env

logger = logging.getLogger("circus")

_KINDS = ("circus", "watcher", "socket", "plugin", "env")
# Names end up in event topics ("watcher.NAME.spawn") and in $(circus.sockets.NAME).
_NAME_RE = re.compile(r"^[A-Za-z0-9_@+-]+$")


def load_config(path: str | os.PathLike[str]) -> CircusConfig:
    """Read the INI file at ``path`` (and its includes) into a CircusConfig.

    Raises ConfigError naming the file, line, section, option and value of the
    first problem found.
    """
    main = os.path.abspath(os.fspath(path))
    return _load(read_ini(main), os.environ)


def parse_config_text(text: str, path: str | os.PathLike[str] = "circus.ini") -> CircusConfig:
    """Load a configuration from ``text`` as if it were the file at ``path``.

    ``path`` names the file in messages and anchors relative paths and includes.
    """
    main = os.path.abspath(os.fspath(path))
    return _load(parse_ini(text, main), os.environ)


def _classify(section: Section) -> tuple[str, str]:
    kind, sep, name = section.name.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    where = f"{section.path}, line {section.line}, [{section.name}]"
    if kind not in _KINDS:
        hint = suggestion(kind, _KINDS)
        raise ConfigError(
            f"{where}: unknown section kind '{kind}'{hint}; expected [circus], "
            "[watcher:NAME], [socket:NAME], [plugin:NAME], [env] or [env:PATTERNS]"
        )
    if kind == "circus":
        if sep:
            raise ConfigError(f"{where}: the [circus] section takes no name")
    elif kind == "env":
        if sep and not any(p.strip() for p in name.split(",")):
            raise ConfigError(f"{where}: expected watcher name patterns after 'env:'")
    elif not sep or not name:
        raise ConfigError(f"{where}: expected a name, as in [{kind}:NAME]")
    elif not _NAME_RE.match(name):
        raise ConfigError(
            f"{where}: invalid {kind} name '{name}': use only letters, digits, '-', '_', "
            "'@' and '+' (dots, spaces and slashes would break event topics)"
        )
    return kind, name


def _section_data(section: Section, kind: str, name: str, lookup: EnvLookup) -> SectionData:
    data = SectionData(section.path, section.line, section.name, kind, name)
    for entry in section.entries.values():
        value = substitute_circus_env(entry.value, lookup)
        data.items.append(Item(entry.key, entry.value, value, entry.line))
    return data


def _expand_env(sections: list[Section], environ: Mapping[str, str]) -> dict[str, str]:
    """Merge the plain ``[env]`` sections; the first file setting a key wins."""
    env: dict[str, str] = {}
    for section in sections:
        for entry in section.entries.values():
            if entry.key not in env:
                env[entry.key] = expand_env_value(entry.value, ChainMap(env, dict(environ)))
    return env


def _include_files(
    main: IniFile, sections: list[tuple[Section, str, str]], lookup: EnvLookup
) -> list[str]:
    base = os.path.dirname(main.path)
    found: list[str] = []
    seen = {main.path}
    for section, kind, _ in sections:
        if kind != "circus":
            continue
        for key in ("include", "include_dir"):
            entry = section.entries.get(key)
            if entry is None:
                continue
            for word in substitute_circus_env(entry.value, lookup).split():
                target = os.path.join(base, os.path.expanduser(word))
                pattern = os.path.join(target, "*.ini") if key == "include_dir" else target
                matches = sorted(os.path.abspath(m) for m in glob.glob(pattern))
                if not matches:
                    logger.warning(
                        "%s, line %d, [circus] %s: %r matches no file",
                        main.path,
                        entry.line,
                        key,
                        word,
                    )
                for match in matches:
                    if match not in seen:
                        seen.add(match)
                        found.append(match)
    return found


def _read_include(path: str, main: IniFile) -> IniFile:
    try:
        return read_ini(path, "included file")
    except ConfigError as exc:
        raise ConfigError(f"{exc} (included from {main.path})") from exc


def _load(main: IniFile, environ: Mapping[str, str]) -> CircusConfig:
    main_sections = [(s, *_classify(s)) for s in main.sections]
    main_env = _expand_env([s for s, k, n in main_sections if k == "env" and not n], environ)
    includes = _include_files(main, main_sections, EnvLookup(environ, main_env))
    classified = list(main_sections)
    for path in includes:
        included = _read_include(path, main)
        for section in included.sections:
            kind, name = _classify(section)
            classified.append((section, kind, name))
            # Only the main file's includes are followed, as upstream does.
            for key in ("include", "include_dir"):
                entry = section.entries.get(key) if kind == "circus" else None
                if entry is not None:
                    logger.warning(
                        "%s, line %d, [circus] %s: ignored, only the main file may include",
                        path,
                        entry.line,
                        key,
                    )
    _check_duplicates(classified)

    env = _expand_env([s for s, k, n in classified if k == "env" and not n], environ)
    env_by_pattern = _pattern_envs(classified, env, environ)
    global_lookup = EnvLookup(environ, env)

    circus: list[SectionData] = []
    watchers: list[Mapping[str, object]] = []
    sockets: list[Mapping[str, object]] = []
    plugins: list[Mapping[str, str]] = []
    for section, kind, name in classified:
        if kind == "watcher":
            watcher_env = dict(env)
            for patterns, extra in env_by_pattern:
                if any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns):
                    watcher_env.update(extra)
            lookup = EnvLookup(environ, watcher_env)
            watchers.append(build_watcher(_section_data(section, kind, name, lookup), watcher_env))
        elif kind == "socket":
            sockets.append(build_socket(_section_data(section, kind, name, global_lookup)))
        elif kind == "plugin":
            plugins.append(build_plugin(_section_data(section, kind, name, global_lookup)))
        elif kind == "circus":
            circus.append(_section_data(section, kind, name, global_lookup))
    _warn_unused_patterns(classified, watchers)
    _check_dependencies(classified, watchers)
    return CircusConfig(
        path=main.path,
        circus=build_circus(circus),
        watchers=tuple(watchers),
        sockets=tuple(sockets),
        plugins=tuple(plugins),
        env=MappingProxyType(env),
    )


def _patterns(name: str) -> list[str]:
    return [p.strip().lower() for p in name.split(",") if p.strip()]


def _pattern_envs(
    classified: list[tuple[Section, str, str]], env: Mapping[str, str], environ: Mapping[str, str]
) -> list[tuple[list[str], dict[str, str]]]:
    """Expand every ``[env:PATTERNS]`` section against os.environ + ``[env]`` + itself."""
    result: list[tuple[list[str], dict[str, str]]] = []
    for section, kind, name in classified:
        if kind == "env" and name:
            own: dict[str, str] = {}
            variables = ChainMap(own, dict(env), dict(environ))
            for entry in section.entries.values():
                own[entry.key] = expand_env_value(entry.value, variables)
            result.append((_patterns(name), own))
    return result


def _warn_unused_patterns(
    classified: list[tuple[Section, str, str]], watchers: list[Mapping[str, object]]
) -> None:
    names = [str(w["name"]).lower() for w in watchers]
    for section, kind, name in classified:
        if kind == "env" and name:
            patterns = _patterns(name)
            if not any(fnmatch.fnmatchcase(w, p) for w in names for p in patterns):
                logger.warning(
                    "%s, line %d, [%s] matches no watcher", section.path, section.line, section.name
                )


def _check_dependencies(
    classified: list[tuple[Section, str, str]], watchers: list[Mapping[str, object]]
) -> None:
    """Reject a ``depends_on`` naming an unknown watcher, or a circular one."""
    graph = {str(w["name"]): _names(w.get("depends_on")) for w in watchers}
    problem = dependency_problem(graph)
    if problem is None:
        return
    name, message = problem
    section = next(s for s, k, n in classified if k == "watcher" and n.lower() == name.lower())
    entry = section.entries.get("depends_on")
    raise located(section.path, entry.line if entry else section.line, section.name, message,
                  "depends_on", entry.value if entry else None)


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (tuple, list)) else ()


def _check_duplicates(classified: list[tuple[Section, str, str]]) -> None:
    """Reject two watchers (or sockets, or plugins) with the same name, in any files."""
    seen: dict[tuple[str, str], Section] = {}
    for section, kind, name in classified:
        if kind not in ("watcher", "socket", "plugin"):
            continue
        first = seen.setdefault((kind, name.lower()), section)
        if first is not section:
            raise located(
                section.path,
                section.line,
                section.name,
                f"duplicate {kind} name '{name}', already defined in {first.path}, "
                f"line {first.line}",
            )
