"""A bad configuration makes circusd print one clear line and exit 1, never a traceback.

Each case writes its INI into the test's tmp dir and checks that the one line
on stderr names the file and whatever else locates the mistake (section,
option, value) plus the hint the message promises.
"""

from __future__ import annotations

import pytest

CASES = {
    "missing_cmd": (
        "[watcher:web]\nnumprocesses = 2\n",
        ["[watcher:web]", "missing required option 'cmd'"],
    ),
    "unknown_signal": (
        "[watcher:web]\ncmd = sleep 60\nstop_signal = SIGFOO\n",
        ["line 3", "[watcher:web]", "stop_signal = SIGFOO", "signal"],
    ),
    "bad_boolean": (
        "[watcher:web]\ncmd = sleep 60\nshell = maybe\n",
        ["line 3", "[watcher:web]", "shell = maybe", "expected a boolean"],
    ),
    "nonexistent_working_dir": (
        "[watcher:web]\ncmd = sleep 60\nworking_dir = no/such/directory\n",
        ["[watcher:web]", "working_dir = no/such/directory", "existing directory"],
    ),
    "unknown_user": (
        "[watcher:web]\ncmd = sleep 60\nuid = no-such-user-for-circus\n",
        ["[watcher:web]", "uid = no-such-user-for-circus", "unknown user"],
    ),
    "unknown_group": (
        "[watcher:web]\ncmd = sleep 60\ngid = no-such-group-for-circus\n",
        ["[watcher:web]", "gid = no-such-group-for-circus", "unknown group"],
    ),
    "duplicate_watcher": (
        "[watcher:web]\ncmd = sleep 60\n\n[watcher:Web]\ncmd = sleep 30\n",
        ["line 4", "[watcher:Web]", "duplicate", "line 1"],
    ),
    "socket_without_host_port_or_path": (
        "[socket:web]\nbacklog = 10\n",
        ["[socket:web]", "host/port or path"],
    ),
    "gevent_stream_backend": (
        "[circus]\nstream_backend = gevent\n",
        ["[circus]", "stream_backend = gevent", "not supported"],
    ),
    "hook_cannot_be_imported": (
        "[watcher:web]\ncmd = sleep 60\nhooks.before_start = no_such_module_for_circus.check\n",
        ["[watcher:web]", "hooks.before_start", "no_such_module_for_circus.check",
         "cannot import"],
    ),
    "hook_attribute_missing": (
        "[watcher:web]\ncmd = sleep 60\nhooks.after_start = os.path.no_such_function\n",
        ["[watcher:web]", "hooks.after_start", "os.path.no_such_function"],
    ),
}


def _assert_one_clear_line(result, config: str, expected: list[str]) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"circusd: error: {config}")
    for fragment in expected:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_error_is_one_line_and_exit_1(circusd, case):
    text, expected = CASES[case]
    config = str(circusd.write(f"{case}.ini", text))
    _assert_one_clear_line(circusd.run(config), config, expected)


def test_missing_config_file(circusd, tmp_path):
    missing = str(tmp_path / "nowhere.ini")
    _assert_one_clear_line(circusd.run(missing), missing, ["cannot read", "No such file"])


def test_unreadable_include(circusd, tmp_path):
    (tmp_path / "conf.d").mkdir()
    # Not UTF-8: even root cannot read it as a config (permission bits would not stop root).
    (tmp_path / "conf.d" / "latin1.ini").write_bytes(b"[watcher:caf\xe9]\ncmd = sleep 60\n")
    main = str(circusd.write("main.ini", "[circus]\ninclude = conf.d/*.ini\n"))
    result = circusd.run(main)
    included = str(tmp_path / "conf.d" / "latin1.ini")
    _assert_one_clear_line(result, included, ["cannot read included file", f"from {main}"])


def test_watcher_duplicated_across_an_include(circusd, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "more.ini").write_text("[watcher:web]\ncmd = sleep 30\n")
    main = str(circusd.write("main.ini",
                             "[circus]\ninclude_dir = conf.d\n\n[watcher:web]\ncmd = sleep 60\n"))
    result = circusd.run(main)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "[watcher:web]" in result.stderr
    assert "more.ini" in result.stderr


def test_config_errors_start_no_process(circusd, tmp_path):
    # A bad option in the second watcher: the first watcher must not have run.
    marker = tmp_path / "ran"
    config = str(circusd.write("half.ini", (
        f"[watcher:good]\ncmd = touch {marker}\n\n"
        "[watcher:bad]\ncmd = sleep 60\nnumprocesses = many\n"
    )))
    result = circusd.run(config)
    assert result.returncode == 1
    assert "numprocesses = many" in result.stderr
    assert not marker.exists()
