"""Includes, substitution, env sections, option tables and parse_option."""

from __future__ import annotations

import logging
import signal
from collections.abc import Mapping
from pathlib import Path

import circus.config
import pytest
from circus.config import (
    CIRCUS_OPTIONS,
    HOOK_NAMES,
    SOCKET_OPTIONS,
    WATCHER_OPTIONS,
    CircusConfig,
    ConfigError,
    load_config,
    parse_config_text,
)
from circus.config._options import parse_option


def _mapping(value: object) -> dict[str, object]:
    """A mapping value of a loaded watcher (env, streams, rlimits), as a dict."""
    assert isinstance(value, Mapping), value
    return dict(value)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str) -> CircusConfig:
    return load_config(write(tmp_path / "circus.ini", text))


# -- defaults and tables -------------------------------------------------------------------


def test_minimal_watcher_gets_every_default(tmp_path: Path) -> None:
    config = load(tmp_path, "[watcher:web]\ncmd = sleep 60\n")
    (web,) = config.watchers
    for name, option in WATCHER_OPTIONS.items():
        if name != "cmd":
            assert web[name] == option.default, name
    assert web["name"] == "web"
    assert web["env"] == {} and web["rlimits"] == {} and web["hooks"] == {}
    assert web["stdout_stream"] == {} and web["stderr_stream"] == {}
    assert web["stop_signal"] == signal.SIGTERM
    assert config.sockets == () and config.plugins == () and config.env == {}


def test_empty_file_gives_circus_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert dict(config.circus) == {name: o.default for name, o in CIRCUS_OPTIONS.items()}
    assert config.watchers == ()


def test_tables_are_well_formed() -> None:
    for table in (WATCHER_OPTIONS, SOCKET_OPTIONS, CIRCUS_OPTIONS):
        for name, option in table.items():
            assert option.name == name
            assert option.doc and "\n" not in option.doc
    assert [n for n, o in WATCHER_OPTIONS.items() if o.required] == ["cmd"]
    assert WATCHER_OPTIONS["numprocesses"].live
    assert not WATCHER_OPTIONS["use_sockets"].live
    assert HOOK_NAMES[0] == "before_start" and "extended_stats" in HOOK_NAMES
    assert set(circus.config.__all__) == {
        "CIRCUS_OPTIONS",
        "HOOK_NAMES",
        "SOCKET_OPTIONS",
        "WATCHER_OPTIONS",
        "CircusConfig",
        "ConfigError",
        "Option",
        "load_config",
        "parse_config_text",
        "parse_option",
    }


def test_parse_option() -> None:
    assert parse_option(WATCHER_OPTIONS, "NumProcesses", "3") == 3
    assert parse_option(WATCHER_OPTIONS, "stop_signal", "sigint") == signal.SIGINT
    assert parse_option(WATCHER_OPTIONS, "warmup_delay", "0.5") == 0.5
    assert parse_option(SOCKET_OPTIONS, "umask", "0o022") == 0o22
    with pytest.raises(ConfigError, match=r"^option stop_signal: expected a signal name"):
        parse_option(WATCHER_OPTIONS, "stop_signal", "SIGFOO")
    with pytest.raises(ConfigError, match=r"option numprocess: unknown option.*'numprocesses'"):
        parse_option(WATCHER_OPTIONS, "numprocess", "3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("000", 0), ("0o022", 0o22), ("022", 0o22), ("777", 0o777), ("8", 8), ("", None)],
)
def test_socket_umask_forms(text: str, expected: int | None) -> None:
    assert parse_option(SOCKET_OPTIONS, "umask", text) == expected


@pytest.mark.parametrize(
    "value", ["tcp://127.0.0.1:20202", "ipc:///tmp/papa.sock", "/var/run/papa.sock"]
)
def test_papa_endpoint_forms(value: str) -> None:
    assert parse_option(CIRCUS_OPTIONS, "papa_endpoint", value) == value


@pytest.mark.parametrize("value", ["tcp://host", "tcp://:5555", "ipc://", "udp://h:1", "x"])
def test_bad_control_endpoints(value: str) -> None:
    with pytest.raises(ConfigError, match="expected tcp://host:port or ipc://path"):
        parse_option(CIRCUS_OPTIONS, "endpoint", value)


def test_warmup_delay_accepts_floats_and_loglevel_any_case(tmp_path: Path) -> None:
    config = load(
        tmp_path, "[circus]\nloglevel = DEBUG\nwarmup_delay = 0.5\n[watcher:a]\ncmd = x\n"
    )
    assert config.circus["loglevel"] == "debug"
    assert config.circus["warmup_delay"] == 0.5


def test_socket_path_forces_unix_and_family_names_any_case(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[socket:a]\npath = a.sock\nfamily = AF_INET\n"
        "[socket:b]\nport = 0\nfamily = af_inet6\ntype = sock_dgram\n",
    )
    a, b = config.sockets
    assert (a["family"], a["path"]) == ("AF_UNIX", str(tmp_path / "a.sock"))
    assert (b["family"], b["type"], b["port"]) == ("AF_INET6", "SOCK_DGRAM", 0)


def test_unix_family_without_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="family AF_UNIX needs a path"):
        load(tmp_path, "[socket:a]\nport = 1\nfamily = AF_UNIX\n")


def test_free_form_and_rlimit_forms(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[watcher:a]\ncmd = x\nrlimit_NOFILE = 10\nrlimit_core = unlimited\n"
        "flapping.window = 3\nmyplugin.some.thing = on\n",
    )
    (a,) = config.watchers
    assert a["rlimits"] == {"nofile": 10, "core": None}
    assert a["flapping.window"] == "3"
    assert a["myplugin.some.thing"] == "on"


def test_bad_rlimit_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rlimit_nofile = lots: expected an integer"):
        load(tmp_path, "[watcher:a]\ncmd = x\nrlimit_nofile = lots\n")


def test_plugin_use_must_be_dotted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use = Flapping: expected a dotted class path"):
        load(tmp_path, "[plugin:f]\nuse = Flapping\n")


def test_allowed_name_characters(tmp_path: Path) -> None:
    config = load(tmp_path, "[watcher:A-b_c@d+1]\ncmd = x\n")
    assert config.watchers[0]["name"] == "A-b_c@d+1"


# -- includes ------------------------------------------------------------------------------


def test_includes_are_sorted_and_relative_to_main_file(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "b.ini", "[watcher:b]\ncmd = x\n")
    write(tmp_path / "conf" / "a.ini", "[watcher:a]\ncmd = x\n")
    write(tmp_path / "dir" / "z.ini", "[watcher:z]\ncmd = x\n")
    write(tmp_path / "dir" / "ignored.conf", "[watcher:ignored]\ncmd = x\n")
    abs_dir = tmp_path / "abs"
    write(abs_dir / "c.ini", "[watcher:c]\ncmd = x\n")
    main = write(
        tmp_path / "etc" / "circus.ini",
        f"[circus]\ninclude = ../conf/*.ini ../conf/a.ini\ninclude_dir = ../dir {abs_dir}\n"
        "[watcher:main]\ncmd = x\n",
    )
    config = load_config(main)
    assert [w["name"] for w in config.watchers] == ["main", "a", "b", "z", "c"]


def test_include_matching_nothing_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="circus"):
        config = load(tmp_path, "[circus]\ninclude = nothing/*.ini\ninclude_dir = nodir\n")
    assert config.watchers == ()
    messages = [r.getMessage() for r in caplog.records if r.name == "circus"]
    assert any("'nothing/*.ini' matches no file" in m for m in messages), messages
    assert any("'nodir' matches no file" in m for m in messages), messages


def test_include_path_uses_env_substitution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCUS_TEST_CONF", "conf")
    write(tmp_path / "conf" / "a.ini", "[watcher:a]\ncmd = x\n")
    config = load(tmp_path, "[circus]\ninclude = $(circus.env.circus_test_conf)/*.ini\n")
    assert [w["name"] for w in config.watchers] == ["a"]


def test_paths_in_included_files_are_relative_to_that_file(tmp_path: Path) -> None:
    (tmp_path / "conf" / "work").mkdir(parents=True)
    write(tmp_path / "conf" / "a.ini", "[watcher:a]\ncmd = x\nworking_dir = work\n")
    config = load(tmp_path, "[circus]\ninclude_dir = conf\n")
    assert config.watchers[0]["working_dir"] == str(tmp_path / "conf" / "work")


def test_error_in_included_file_names_it(tmp_path: Path) -> None:
    bad = write(tmp_path / "conf" / "bad.ini", "[watcher:a]\ncmd = x\nshell = perhaps\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[circus]\ninclude = conf/*.ini\n")
    assert str(info.value).startswith(f"{bad}, line 3, [watcher:a] shell = perhaps")


# -- substitution --------------------------------------------------------------------------


def test_circus_env_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCUS_T_LAYER", "os")
    monkeypatch.setenv("CIRCUS_T_OS_ONLY", "os-only")
    config = load(
        tmp_path,
        "[watcher:a]\ncmd = $(circus.env.CIRCUS_T_LAYER) $(CIRCUS.ENV.circus_t_os_only)\n"
        "[watcher:b]\ncmd = $(Circus.Env.CIRCUS_T_LAYER) $(circus.env.NOPE_NOT_SET) "
        "$(circus.wid) $(circus.sockets.web)\n"
        "[socket:s]\nhost = ((circus.env.CIRCUS_T_LAYER))\nport = 1\n"
        "[env]\nCIRCUS_T_LAYER = env\n"
        "[env:a]\nCIRCUS_T_LAYER = watcher\n",
    )
    a, b = config.watchers
    assert a["cmd"] == "watcher os-only"
    assert b["cmd"] == "env $(circus.env.NOPE_NOT_SET) $(circus.wid) $(circus.sockets.web)"
    assert config.sockets[0]["host"] == "env"


def test_exact_name_beats_case_insensitive_match(tmp_path: Path) -> None:
    config = load(
        tmp_path, "[watcher:a]\ncmd = $(circus.env.Foo)\n[env]\nFOO = upper\nFoo = exact\n"
    )
    assert config.watchers[0]["cmd"] == "exact"


def test_env_section_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("lower_var", "low")
    monkeypatch.delenv("CIRCUS_T_UNSET", raising=False)
    config = load(
        tmp_path,
        "[watcher:worker1]\ncmd = x\n[watcher:worker2]\ncmd = x\n"
        "[env]\nBASE = /srv\nHOME_BIN = ${BASE}/bin\nRAW = a$$b\nGONE = [$CIRCUS_T_UNSET]\n"
        "LOW = $lower_var\nKEEP = $(circus.wid) $1\n"
        "[env:worker1,worker2]\nPATH = /bin\n"
        "[env:worker1]\nPATH = $PATH\n"
        "[env:worker2]\nCAKE = lie\nPATH2 = $BASE:$CAKE\n",
    )
    assert dict(config.env) == {
        "BASE": "/srv",
        "HOME_BIN": "/srv/bin",
        "RAW": "a$b",
        "GONE": "[]",
        "LOW": "low",
        "KEEP": "$(circus.wid) $1",
    }
    worker1, worker2 = config.watchers
    # As in the manual: $PATH comes from circusd's environment, not from the
    # [env:worker1,worker2] section.
    assert _mapping(worker1["env"])["PATH"] == "/usr/bin"
    assert _mapping(worker2["env"])["PATH"] == "/bin"
    assert _mapping(worker2["env"])["CAKE"] == "lie"
    assert _mapping(worker2["env"])["PATH2"] == "/srv:lie"


def test_env_patterns_use_wildcards_and_ignore_case(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[watcher:Worker1]\ncmd = x\n[watcher:other]\ncmd = x\n[env: work* , nope ]\nA = 1\n",
    )
    worker, other = config.watchers
    assert worker["env"] == {"A": "1"}
    assert other["env"] == {}


def test_env_pattern_matching_no_watcher_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="circus"):
        load(tmp_path, "[watcher:a]\ncmd = x\n[env:b]\nA = 1\n")
    assert any("[env:b] matches no watcher" in r.getMessage() for r in caplog.records)


def test_parse_config_text_anchors_relative_paths(tmp_path: Path) -> None:
    config = parse_config_text("[circus]\npidfile = c.pid\n", tmp_path / "x.ini")
    assert config.circus["pidfile"] == str(tmp_path / "c.pid")
    assert config.path == str(tmp_path / "x.ini")


def test_nested_includes_are_not_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "conf" / "a.ini", "[circus]\ninclude = ../deeper/*.ini\n")
    write(tmp_path / "deeper" / "b.ini", "[watcher:b]\ncmd = x\n")
    with caplog.at_level(logging.WARNING, logger="circus"):
        config = load(tmp_path, "[circus]\ninclude = conf/*.ini\n")
    assert config.watchers == ()
    assert any("only the main file may include" in r.getMessage() for r in caplog.records)


def test_main_file_env_wins_over_included_env(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "a.ini", "[env]\nA = included\nB = included\n")
    config = load(tmp_path, "[circus]\ninclude_dir = conf\n[env]\nA = main\n")
    assert dict(config.env) == {"A": "main", "B": "included"}


def test_hook_target_must_be_a_dotted_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hooks\.after_start = not a path: expected a dotted"):
        load(tmp_path, "[watcher:a]\ncmd = x\nhooks.after_start = not a path\n")


def test_empty_host_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="host = '': expected a host name or address"):
        load(tmp_path, '[socket:a]\nport = 1\nhost = ""\n')
