"""circusctl's options, environment, usage errors, help and exit codes (as a real subprocess)."""

from __future__ import annotations

import pytest
from circus.ctl._commands import COMMANDS
from conftest import assert_no_traceback, ctl_env, run_ctl


def test_endpoint_from_environment(daemon):
    daemon.replies["list"] = {"watchers": ["envwatcher"]}
    result = run_ctl("list", env=ctl_env(CIRCUSCTL_ENDPOINT=daemon.endpoint))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "envwatcher\n"


def test_explicit_endpoint_beats_environment(daemon):
    daemon.replies["numwatchers"] = {"numwatchers": 7}
    env = ctl_env(CIRCUSCTL_ENDPOINT="tcp://127.0.0.1:1")
    result = run_ctl("--endpoint", daemon.endpoint, "numwatchers", env=env)
    assert (result.returncode, result.stdout) == (0, "7\n")


def test_global_options_after_the_command(daemon):
    daemon.replies["numwatchers"] = {"numwatchers": 4}
    result = run_ctl("numwatchers", "--endpoint", daemon.endpoint, "--json")
    assert result.returncode == 0, result.stderr
    assert '"numwatchers": 4' in result.stdout


def test_error_reply_exits_3(daemon):
    daemon.replies["stop"] = {"status": "error", "reason": "program x not found", "errno": 3}
    result = run_ctl("--endpoint", daemon.endpoint, "stop", "x")
    assert result.returncode == 3
    assert result.stderr == "error: program x not found\n"


@pytest.mark.parametrize("argv", [
    ["list", "a", "b"], ["options"], ["get", "w"], ["signal", "w"], ["add", "w"],
    ["signal", "w", "1", "2", "3", "HUP"], ["set", "w", "numprocesses"],
    ["set", "w", "numprocesses", "two"], ["incr", "w", "lots"], ["signal", "w", "NOSUCHSIG"],
    ["start", "--match", "fuzzy"], ["stats", "--extended", "w", "notapid"],
    ["kill", "w", "--graceful_timeout", "soon"], ["set", "w", "env", "novalue"],
])
def test_wrong_arguments_are_usage_errors_with_the_command_usage(daemon, argv):
    result = run_ctl("--endpoint", daemon.endpoint, *argv)
    assert result.returncode == 2, result
    assert result.stderr.startswith(f"usage: circusctl {argv[0]} ")
    assert f"circusctl {argv[0]}: error: " in result.stderr
    assert_no_traceback(result)
    assert daemon.requests == []


def test_unknown_command_and_bad_option_are_usage_errors():
    result = run_ctl("bogus")
    assert result.returncode == 2
    assert "unknown command 'bogus'" in result.stderr
    result = run_ctl("--timeout", "-1", "list")
    assert result.returncode == 2
    assert "--timeout" in result.stderr


def test_version():
    result = run_ctl("--version")
    assert (result.returncode, result.stdout) == (0, "circusctl 0.1.0\n")


def test_main_help_lists_every_command():
    result = run_ctl("--help")
    assert result.returncode == 0
    for name, command in COMMANDS.items():
        assert f"  {name}" in result.stdout and command.summary in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    result = run_ctl(name, "--help")
    assert result.returncode == 0, result.stderr
    command = COMMANDS[name]
    assert result.stdout.startswith(f"usage: circusctl {name}")
    assert command.description.split()[0] in result.stdout
    for arg in command.args:
        assert arg.help in result.stdout
    for flag in command.flags:
        assert flag.name in result.stdout
