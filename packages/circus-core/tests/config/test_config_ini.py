"""The hand-written INI reader: syntax, case rules, line numbers, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from circus.config import ConfigError
from circus.config._ini import is_env_section, parse_ini, read_ini, section_key


def values(text: str, section: int = 0) -> dict[str, str]:
    parsed = parse_ini(text, "/etc/circus.ini")
    return {key: entry.value for key, entry in parsed.sections[section].entries.items()}


def test_comments_and_separators() -> None:
    text = (
        "# full-line comment\n"
        "; another one\n"
        "[watcher:web]\n"
        "   # indented comment\n"
        "cmd = run ; trailing comment\n"
        "args: --x # also a comment\n"
        "url = tcp://host#frag;x\n"
        "empty =\n"
        'quoted = ""\n'
        'kept = "a b"\n'
    )
    assert values(text) == {
        "cmd": "run",
        "args": "--x",
        "url": "tcp://host#frag;x",
        "empty": "",
        "quoted": "",
        "kept": '"a b"',
    }


def test_continuation_lines_are_joined_with_newlines() -> None:
    text = (
        "[watcher:web]\n"
        "args =\n"
        "    --one\n"
        "    ; a comment inside the value\n"
        "\n"
        "    --two  # trailing\n"
        "cmd = run\n"
    )
    assert values(text) == {"args": "--one\n\n--two", "cmd": "run"}


def test_uniformly_indented_keys_are_separate_options() -> None:
    text = "[watcher:web]\n  cmd = run\n  numprocesses = 2\n"
    assert values(text) == {"cmd": "run", "numprocesses": "2"}


def test_option_names_are_lowercased_except_in_env_sections() -> None:
    text = "[watcher:web]\nNumProcesses = 2\n[env]\nPath = /bin\n[ENV : web, api]\nMyVar = 1\n"
    assert values(text, 0) == {"numprocesses": "2"}
    assert values(text, 1) == {"Path": "/bin"}
    assert values(text, 2) == {"MyVar": "1"}


def test_env_keys_differing_in_case_are_distinct() -> None:
    assert values("[env]\nPATH = a\npath = b\n") == {"PATH": "a", "path": "b"}


def test_line_numbers_are_recorded() -> None:
    parsed = parse_ini("\n[circus]\n\nendpoint = x\n  y\ndebug = 1\n", "f.ini")
    section = parsed.sections[0]
    assert section.line == 2
    assert section.entries["endpoint"].line == 4
    assert section.entries["endpoint"].value == "x\ny"
    assert section.entries["debug"].line == 6


def test_no_name_pseudo_key() -> None:
    parsed = parse_ini("[env]\nA = 1\n[watcher:x]\ncmd = y\n", "f.ini")
    for section in parsed.sections:
        assert "__name__" not in section.entries


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.ini"
    path.write_bytes(b"\xef\xbb\xbf[circus]\ndebug = 1\n")
    assert read_ini(str(path)).sections[0].name == "circus"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "[circus]\ndebug = 1\nDEBUG = 0\n",
            "line 3, [circus] debug: duplicate option, already set on line 2; keep only one "
            "of them (circus 0.19 silently used the first)",
        ),
        (
            "[watcher:a]\ncmd = x\n[ watcher : A ]\ncmd = y\n",
            "line 3: duplicate section [watcher : A], already defined on line 1",
        ),
        ("[env:a, b]\n[env:a,b]\n", "line 2: duplicate section"),
        ("debug = 1\n", "line 1: option outside any section"),
        ("[circus\n", "line 1: expected a section header"),
        ("[]\n", "line 1: empty section name"),
        ("[circus]\njust words\n", "line 2, [circus]: expected 'key = value'"),
        ("[circus]\n= value\n", "line 2, [circus]: missing option name"),
    ],
)
def test_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ini(text, "/etc/circus.ini")
    assert str(info.value).startswith("/etc/circus.ini, ")
    assert fragment in str(info.value)


def test_section_normalisation() -> None:
    assert section_key(" Watcher : Web ") == "watcher:web"
    assert section_key("env: a , b") == "env:a,b"
    assert is_env_section("ENV")
    assert is_env_section("env : x")
    assert not is_env_section("environment")
