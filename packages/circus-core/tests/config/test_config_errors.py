"""Every invalid fixture fails to load with a message saying where and what."""

from __future__ import annotations

from pathlib import Path

import pytest
from circus.config import ConfigError, load_config

FIXTURES = Path(__file__).parent / "fixtures"

# fixture file -> (line the message names or None, fragments the message contains)
CASES: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "missing_cmd.ini": (1, ("[watcher:web]", "missing required option 'cmd'")),
    "empty_cmd.ini": (2, ("[watcher:web] cmd = ''", "expected a non-empty command")),
    "unknown_signal.ini": (
        3,
        (
            "[watcher:web] stop_signal = SIGFOO: "
            "expected a signal name (TERM, SIGQUIT, SIGRTMIN+1) or number",
        ),
    ),
    "bad_boolean.ini": (3, ("[watcher:web] shell = maybe", "expected a boolean")),
    "nonexistent_working_dir.ini": (
        3,
        ("working_dir = no/such/directory", "expected an existing directory"),
    ),
    "unknown_user.ini": (3, ("uid = no-such-user-for-circus", "unknown user")),
    "unknown_group.ini": (3, ("gid = no-such-group-for-circus", "unknown group")),
    "unknown_endpoint_owner.ini": (3, ("[circus] endpoint_owner", "unknown user")),
    "duplicate_watcher_same_file.ini": (
        4,
        ("duplicate section [watcher:WEB]", "already defined on line 1"),
    ),
    "duplicate_key.ini": (
        4,
        ("[watcher:web] numprocesses", "duplicate option", "already set on line 3"),
    ),
    "socket_without_port_or_path.ini": (
        1,
        ("[socket:Web]", "socket 'web' needs host/port or path"),
    ),
    "port_out_of_range.ini": (
        2,
        ("port = 70000", "expected an integer <= 65535"),
    ),
    "gevent_stream_backend.ini": (
        2,
        ("stream_backend = gevent", "gevent is not supported", "use thread"),
    ),
    "bad_rlimit_name.ini": (
        3,
        ("rlimit_nofiles = 100", "unknown resource limit 'nofiles'", "nofile"),
    ),
    "unknown_hook_name.ini": (
        3,
        (
            "hooks.before_strat = mypkg.hooks.check",
            "unknown hook 'before_strat'",
            "did you mean 'before_start'?",
            "valid hooks: before_start, after_start",
            "extended_stats",
        ),
    ),
    "bad_hook_flag.ini": (3, ("ignore-errors flag", "expected a boolean")),
    "bad_size.ini": (
        5,
        ("stdout_stream.max_bytes = lots", "expected a size in bytes"),
    ),
    "bad_rotate_when.ini": (
        4,
        ("stdout_stream.rotate_when = fortnight", "S, M, H, D, W0..W6, midnight"),
    ),
    "unknown_section_kind.ini": (
        1,
        ("[watchr:web]", "unknown section kind 'watchr'", "did you mean 'watcher'?"),
    ),
    "watcher_name_with_dot.ini": (1, ("invalid watcher name 'web.front'", "event topics")),
    "watcher_name_with_space.ini": (1, ("invalid watcher name 'web front'",)),
    "watcher_name_with_slash.ini": (1, ("invalid watcher name 'web/front'",)),
    "watcher_name_empty.ini": (1, ("[watcher:]", "expected a name, as in [watcher:NAME]")),
    "singleton_with_numprocesses.ini": (4, ("numprocesses = 2", "singleton", "at most 1")),
    "negative_numprocesses.ini": (
        3,
        ("numprocesses = -1", "expected an integer >= 0"),
    ),
    "bad_endpoint.ini": (
        2,
        ("endpoint = http://127.0.0.1:5555", "expected tcp://host:port or ipc://path"),
    ),
    "bad_loglevel.ini": (2, ("loglevel = chatty", "expected one of debug, info")),
    "plugin_without_use.ini": (1, ("[plugin:flapping]", "missing required option 'use'")),
    "option_outside_section.ini": (1, ("option outside any section",)),
    "circular_depends_on.ini": (
        3,
        ("[watcher:a] depends_on = c", "circular depends_on: a -> c -> b -> a"),
    ),
    "depends_on_unknown_watcher.ini": (
        3,
        ("[watcher:web] depends_on = db, cache", "depends_on names unknown watcher 'cache'"),
    ),
    "bad_check.ini": (
        3,
        ("[watcher:web] check = udp://127.0.0.1:53",
         "expected tcp://HOST:PORT, http://HOST[:PORT][/PATH] or exec:COMMAND"),
    ),
    "bad_check_retries.ini": (4, ("check_retries = 0", "expected an integer >= 1")),
}


def test_every_error_fixture_is_covered() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.ini")}
    assert set(CASES) <= on_disk


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_fixture(name: str) -> None:
    line, fragments = CASES[name]
    path = FIXTURES / name
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if line is not None:
        assert f", line {line}" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.ini"
    with pytest.raises(ConfigError, match="cannot read config file: No such file"):
        load_config(path)


def test_unreadable_include_names_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "unreadable_include.ini")
    message = str(info.value)
    assert str(FIXTURES / "unreadable_include.d" / "latin1.ini") in message
    assert "cannot read included file" in message
    assert "included from " + str(FIXTURES / "unreadable_include.ini") in message


def test_include_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "conf.d" / "trap.ini").mkdir(parents=True)
    main = tmp_path / "circus.ini"
    main.write_text("[circus]\ninclude = conf.d/*.ini\n")
    with pytest.raises(ConfigError, match=r"trap\.ini: cannot read included file"):
        load_config(main)


def test_duplicate_watcher_across_files_names_both() -> None:
    main = FIXTURES / "duplicate_watcher_across_files.ini"
    other = FIXTURES / "duplicate_watcher_across_files.d" / "other.ini"
    with pytest.raises(ConfigError) as info:
        load_config(main)
    message = str(info.value)
    assert message.startswith(f"{other}, line 3, [watcher:Web]"), message
    assert f"duplicate watcher name 'Web', already defined in {main}, line 4" in message


def test_substituted_value_is_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CIRCUS_TEST_PROCS", "many")
    path = tmp_path / "circus.ini"
    path.write_text("[watcher:web]\ncmd = x\nnumprocesses = $(circus.env.CIRCUS_TEST_PROCS)\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (
        "numprocesses = $(circus.env.CIRCUS_TEST_PROCS) (after substitution: many): "
        "expected an integer"
    ) in str(info.value)
