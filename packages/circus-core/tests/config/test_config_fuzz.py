"""Fuzzing the INI loader: any file either loads or fails with one ConfigError.

Sections, options and values are generated from the real option tables plus
junk, so most examples get past the INI syntax and reach the option parsers,
the substitutions, the includes and the cross-section checks. Whatever the
text, ``load_config`` returns a CircusConfig or raises ConfigError with a
one-line message; any other exception is a traceback a user would see.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from circus.config import (
    CIRCUS_OPTIONS,
    SOCKET_OPTIONS,
    WATCHER_OPTIONS,
    CircusConfig,
    ConfigError,
    load_config,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# A fixed budget: the loader is pure Python, ~40 ms per example at most on a busy CI core.
EXAMPLES = 1500

KINDS = ["circus", "watcher:web", "watcher:w2", "socket:s", "socket:S", "plugin:p",
         "env:web", "env:*", "env:w*", "watcher:", "socket", "bogus:x", "WATCHER:web",
         "watcher: web ", "watcher:a b", "watcher:$(circus.env.X)"]
PREFIXED = ["stdout_stream.class", "stdout_stream.filename", "stdout_stream.max_bytes",
            "stdout_stream.backup_count", "stderr_stream.class", "stderr_stream.time_format",
            "hooks.before_start", "hooks.after_spawn", "hooks.bogus", "rlimit_nofile",
            "rlimit_bogus", "env", "use", "cmd.x", "PORT", "HOME"]
OPTIONS = sorted({*WATCHER_OPTIONS, *SOCKET_OPTIONS, *CIRCUS_OPTIONS, *PREFIXED})
# Values that steer parsers into their edge cases; includes stay inside the tmp dir.
VALUES = ["", "0", "1", "-1", "70000", "1.5", "nan", "inf", "1e309", "true", "maybe",
          "TERM", "SIGRTMIN+1", "99", "tcp://127.0.0.1:0", "ipc://x", "udp://h:1",
          "unix", "inet6", "stream", "raw", "$(circus.env.X)", "$(circus.env.)",
          "$(circus.sockets.s)", "$(circus.sockets.nope)", "$(circus.wid)", "${HOME}",
          "$HOME", "$(", "%(here)s", "%", "python -c 1", "'unterminated", "a\\", "root",
          "nobody", "no-such-user-x", "0o777", "0999", "web", "web,w2", "s", "x.ini",
          "*.ini", "sub/*.ini", "missing.ini", "self.ini", "sub", "circus.stream.FileStream",
          "circus.stream.Nope", "1k", "10M", "infinity", "unlimited", "-", "\t",
          "a=b", "debug", "DEBUG", "stdout", "."]


def _value_text() -> st.SearchStrategy[str]:
    # Generated text never holds a newline (a value is one line) nor a "/" (no
    # absolute include glob can reach outside the tmp dir).
    free = st.text(max_size=12).map(
        lambda s: s.replace("\n", " ").replace("\r", " ").replace("/", "_"))
    return st.one_of(st.sampled_from(VALUES), free,
                     st.integers(-(2**70), 2**70).map(str))


SECTION = st.tuples(
    st.one_of(st.sampled_from(KINDS),
              st.text(max_size=10).map(lambda s: s.replace("\n", "").replace("]", ""))),
    st.lists(st.tuples(st.sampled_from(OPTIONS), _value_text(),
                       st.sampled_from([" = ", "=", ": "])),
             max_size=6),
)
RAW_LINE = st.text(max_size=20).map(lambda s: s.replace("/", "_"))


def _render(sections: list[tuple[str, list[tuple[str, str, str]]]], raw: list[str]) -> str:
    lines: list[str] = []
    for index, (header, items) in enumerate(sections):
        lines.append(f"[{header}]")
        lines.extend(f"{key}{sep}{value}" for key, value, sep in items)
        if index < len(raw):
            lines.append(raw[index])
    return "\n".join(lines) + "\n"


def _check(path: Path) -> str:
    """'ok' or 'error' for the file at ``path``; anything but ConfigError fails the test."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.strip(), "a ConfigError without a message"
        assert "Traceback" not in message and "\n" not in message.strip(), message
        return "error"
    assert isinstance(config, CircusConfig)
    return "ok"


def test_generated_ini_files_load_or_raise_config_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative working_dir/include values resolve inside the tmp dir
    (tmp_path / "sub").mkdir()
    main = tmp_path / "self.ini"
    outcomes = {"ok": 0, "error": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(sections=st.lists(SECTION, max_size=5), raw=st.lists(RAW_LINE, max_size=2),
           include=st.one_of(st.none(), st.lists(SECTION, max_size=2)))
    def check(sections: list[tuple[str, list[tuple[str, str, str]]]], raw: list[str],
              include: list[tuple[str, list[tuple[str, str, str]]]] | None) -> None:
        main.write_text(_render(sections, raw))
        for stale in (tmp_path / "sub").iterdir():
            stale.unlink()
        if include is not None:
            # An included file for "include = sub/*.ini" / "include_dir = sub" to find.
            (tmp_path / "sub" / "extra.ini").write_text(_render(include, []))
        outcomes[_check(main)] += 1

    check()
    total = outcomes["ok"] + outcomes["error"]
    print(f"\nconfig fuzz: {total} examples, {outcomes['ok']} loaded, "
          f"{outcomes['error']} ConfigError, 0 crashes")
    assert total >= EXAMPLES // 2
