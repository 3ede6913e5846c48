"""A small, strict INI reader that remembers where every key came from.

Written by hand rather than on top of :mod:`configparser` so that duplicate keys
are errors naming both lines, every key keeps its line number, no ``__name__``
pseudo-key exists and the case rules (keys lowercased except in env sections)
are ours to choose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ConfigError

# An inline comment starts at ";" or "#" preceded by whitespace, so values such
# as "tcp://host#frag" or "a;b" survive.
_INLINE_COMMENT = re.compile(r"\s[;#]")
_SEPARATOR = re.compile(r"[=:]")
_SECTION_SPACES = re.compile(r"\s*([:,])\s*")


@dataclass(frozen=True)
class Entry:
    """One ``key = value`` line (plus its continuation lines)."""

    key: str
    value: str
    line: int


@dataclass
class Section:
    """One ``[header]`` block of one file."""

    name: str  # the header as written, stripped
    line: int
    path: str
    entries: dict[str, Entry] = field(default_factory=dict)


@dataclass
class IniFile:
    """The sections of one file, in file order."""

    path: str
    sections: list[Section]


def section_key(name: str) -> str:
    """Normalise a section header so that spelling variants compare equal."""
    return _SECTION_SPACES.sub(r"\1", name.strip()).lower()


def is_env_section(name: str) -> bool:
    """Tell whether a header is ``[env]`` or ``[env:...]`` (whose keys keep case)."""
    key = section_key(name)
    return key == "env" or key.startswith("env:")


def _strip_inline_comment(text: str) -> str:
    match = _INLINE_COMMENT.search(text)
    return text[: match.start()] if match else text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _finish(value_lines: list[str]) -> str:
    value = "\n".join(value_lines).strip()
    # '""' is the only way to write an explicitly empty value.
    return "" if value == '""' else value


def parse_ini(text: str, path: str) -> IniFile:
    """Parse INI ``text`` read from ``path`` (used in error messages)."""
    sections: list[Section] = []
    seen_sections: dict[str, Section] = {}
    current: Section | None = None
    # The key being read, its value lines, its first line and its indentation.
    key: str | None = None
    value_lines: list[str] = []
    key_line = 0
    key_indent = 0
    blank_run = 0

    def flush() -> None:
        nonlocal key
        if current is None or key is None:
            return
        previous = current.entries.get(key)
        if previous is not None:
            raise ConfigError(
                f"{path}, line {key_line}, [{current.name}] {key}: duplicate option, "
                f"already set on line {previous.line}; keep only one of them "
                "(circus 0.19 silently used the first)"
            )
        current.entries[key] = Entry(key, _finish(value_lines), key_line)
        key = None

    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            blank_run += 1
            continue
        if stripped[0] in "#;":
            continue
        content = _strip_inline_comment(raw).rstrip()
        indent = _indent(raw)
        if key is not None and indent > key_indent:
            # Blank lines inside a continued value are kept, like configparser.
            value_lines.extend([""] * blank_run)
            value_lines.append(content.strip())
            blank_run = 0
            continue
        blank_run = 0
        flush()
        body = content.strip()
        if body.startswith("["):
            if not body.endswith("]"):
                raise ConfigError(f"{path}, line {number}: expected a section header like [name]")
            name = body[1:-1].strip()
            if not name:
                raise ConfigError(f"{path}, line {number}: empty section name []")
            norm = section_key(name)
            if norm in seen_sections:
                raise ConfigError(
                    f"{path}, line {number}: duplicate section [{name}], already defined "
                    f"on line {seen_sections[norm].line}"
                )
            current = Section(name=name, line=number, path=path)
            seen_sections[norm] = current
            sections.append(current)
            continue
        if current is None:
            raise ConfigError(
                f"{path}, line {number}: option outside any section; "
                "start the file with a header such as [circus]"
            )
        match = _SEPARATOR.search(body)
        if match is None:
            raise ConfigError(
                f"{path}, line {number}, [{current.name}]: expected 'key = value', got {body!r}"
            )
        name = body[: match.start()].strip()
        if not name:
            raise ConfigError(f"{path}, line {number}, [{current.name}]: missing option name")
        key = name if is_env_section(current.name) else name.lower()
        value_lines = [body[match.end() :].strip()]
        key_line = number
        key_indent = indent
    flush()
    return IniFile(path=path, sections=sections)


def read_ini(path: str, what: str = "config file") -> IniFile:
    """Read and parse the file at ``path``; any I/O problem is a ConfigError."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read {what}: {reason}") from exc
    return parse_ini(text, path)
