"""The interactive shell: banner, status, prompt, commands, help, completion, history."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from circus.client import CircusClient
from circus.ctl._shell import CircusShell
from conftest import assert_no_traceback, ctl_env, run_ctl


def test_piped_session(daemon, tmp_path):
    daemon.replies["status"] = {"statuses": {"web": "active"}}
    daemon.replies["list"] = {"watchers": ["web"]}
    daemon.replies["incr"] = {"status": "error", "reason": "program nope not found", "errno": 3}
    session = "list\nincr nope\nlist a b\nhelp incr\nfrobnicate\nnumwatchers\n"
    daemon.replies["numwatchers"] = {"numwatchers": 1}
    result = run_ctl("--endpoint", daemon.endpoint, input=session,
                     env=ctl_env(HOME=str(tmp_path)))
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("circusctl 0.1.0\nweb: active\n(circusctl) ")
    assert "(circusctl) web\n" in out
    assert "Increment the number of processes" in out  # help incr
    assert "(circusctl) 1\n" in out  # the shell survived the errors above
    assert "error: program nope not found" in result.stderr
    assert "usage: incr" not in result.stderr and "usage: list" in result.stderr
    assert "unknown command: 'frobnicate'" in result.stderr
    assert [r["command"] for r in daemon.requests] == ["status", "list", "incr", "numwatchers"]
    assert (tmp_path / ".circusctl_history").exists()
    assert_no_traceback(result)


def test_unwritable_history_is_not_fatal(daemon, tmp_path):
    home = tmp_path / "not-a-dir"
    home.write_text("")
    result = run_ctl("--endpoint", daemon.endpoint, input="quit\n",
                     env=ctl_env(HOME=str(home)))
    assert result.returncode == 0
    assert_no_traceback(result)


def _shell(daemon) -> Any:
    options = Namespace(endpoint=daemon.endpoint, timeout=5.0, json=False, prettify=False,
                        ssh=None, ssh_keyfile=None)
    return CircusShell(CircusClient(daemon.endpoint), options)


def test_completes_command_names(daemon):
    shell = _shell(daemon)
    try:
        assert shell.completenames("st") == ["start", "stats", "status", "stop"]
        assert "reloadconfig" in shell.completenames("rel")
    finally:
        shell.client.close()


def test_completes_watcher_names_from_list(daemon):
    daemon.replies["list"] = {"watchers": ["sleeper", "slow", "web"]}
    shell = _shell(daemon)
    try:
        assert shell.complete_status("sl", "status sl", 7, 9) == ["sleeper", "slow"]
        assert shell.complete_incr("", "incr ", 5, 5) == ["sleeper", "slow", "web"]
        assert shell.complete_incr("", "incr web ", 9, 9) == []  # second argument: a number
        assert not hasattr(shell, "complete_add")  # a new name: nothing to complete
    finally:
        shell.client.close()
    assert daemon.requests[0]["command"] == "list"


def test_help_lists_commands_and_keeps_eof_and_help_undocumented(daemon, tmp_path):
    # The manual's tutorial: every command documented, "EOF help" undocumented.
    daemon.replies["status"] = {"statuses": {}}
    result = run_ctl("--endpoint", daemon.endpoint, input="help\n",
                     env=ctl_env(HOME=str(tmp_path)))
    documented, _, undocumented = result.stdout.partition("Undocumented commands:")
    documented_names = set(documented.split("Documented commands")[1].split()[4:])
    assert {"add", "decr", "get", "incr", "list", "listen", "quit", "stats", "status"} <= (
        documented_names)
    assert "EOF" not in documented_names and "help" not in documented_names
    assert undocumented.split()[1:3] == ["EOF", "help"]


def _complete(words: str, cword: int, endpoint: str) -> str:
    env = ctl_env(AUTO_COMPLETE="1", COMP_WORDS=words, COMP_CWORD=str(cword),
                  CIRCUSCTL_ENDPOINT=endpoint)
    result = run_ctl(env=env)
    assert result.returncode == 0 and result.stderr == "", result
    return str(result.stdout).strip()


def test_bash_completion_of_commands_and_watchers(daemon):
    # Upstream's protocol: AUTO_COMPLETE, COMP_WORDS and COMP_CWORD in, matches out.
    daemon.replies["list"] = {"watchers": ["sleeper", "slow", "web"]}
    assert _complete("circusctl st", 1, daemon.endpoint) == "start stats status stop"
    assert _complete("circusctl incr sl", 2, daemon.endpoint) == "sleeper slow"
    assert _complete("circusctl --timeout 3 status ", 4, daemon.endpoint) == (
        "sleeper slow web")
    assert _complete("circusctl incr web ", 3, daemon.endpoint) == ""  # a number comes next
    assert _complete("circusctl add ", 2, daemon.endpoint) == ""  # a new name
    # Nothing listening: no watcher names, and no error on the terminal.
    assert _complete("circusctl stop ", 2, "tcp://127.0.0.1:1") == ""
