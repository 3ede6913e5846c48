"""Console output matches upstream's circusctl line for line when stdout is not a TTY."""

from __future__ import annotations

import pytest
from circus.ctl._main import main

INFO = {"pid": 21570, "cmdline": "sleep", "username": "root", "nice": 0, "mem_info1": "1.45M",
        "mem_info2": "2.44M", "cpu": 0.0, "mem": 0.006, "ctime": "0:00.0", "age": 1.0,
        "children": []}
PARENT = {**INFO, "pid": 22047, "cmdline": "bash",
          "children": [{**INFO, "pid": 22048}, {**INFO, "pid": 22049}]}
LINE = "21570  sleep root 0 1.45M 2.44M 0.0 0.006 0:00.0"

CASES = [
    (["list"], {"watchers": ["one", "sleeper"]}, "one,sleeper\n"),
    (["list", "sleeper"], {"pids": [21570, 21571]}, "21570,21571\n"),
    (["status"], {"statuses": {"one": "active", "Sleeper": "stopped"}},
     "Sleeper: stopped\none: active\n"),
    (["status", "sleeper"], {"status": "active"}, "active\n"),
    (["numwatchers"], {"numwatchers": 2}, "2\n"),
    (["numprocesses", "w"], {"numprocesses": 3, "watcher_name": "w"}, "3\n"),
    (["globaloptions"], {"options": {"endpoint": "tcp://127.0.0.1:5555", "check_delay": 5.0}},
     "endpoint: tcp://127.0.0.1:5555\ncheck_delay: 5.0\n"),
    (["listsockets"], {"sockets": [
        {"fd": 6, "name": "web", "backlog": 2048, "host": "127.0.0.1", "port": 8080},
        {"fd": 7, "name": "unix", "backlog": 2048, "path": "/tmp/s.sock"}]},
     "6:socket 'web' at 127.0.0.1:8080\n7:socket 'unix' at /tmp/s.sock\n"),
    (["options", "w"], {"options": {"numprocesses": 2, "env": {"B": "2", "A": "x"}, "uid": None,
                                    "shell": False, "stdout_stream_conf": {}}},
     "env: A=x,B=2\nnumprocesses: 2\nshell: False\nstdout_stream_conf: {}\nuid: \n"),
    (["get", "w", "numprocesses", "env"], {"options": {"numprocesses": 2, "env": {}}},
     "numprocesses: 2\nenv: \n"),
    (["dstats"], {"info": {**INFO, "pid": 21566, "cmdline": "python3", "mem_info1": "30.95M",
                           "mem_info2": "117.49M", "cpu": 0.0, "mem": 0.128, "ctime": "0:00.13"}},
     "Main Process:\n    21566  python3 root 0 30.95M 117.49M 0.0 0.128 0:00.13\n"),
    (["stats"], {"infos": {"Sleeper": {"21570": INFO}, "kids": {"22047": PARENT}}},
     f"Sleeper:\n21570: {LINE}\nkids:\n22047: 22047  bash root 0 1.45M 2.44M 0.0 0.006 0:00.0\n"
     "   22048  sleep root 0 1.45M 2.44M 0.0 0.006 0:00.0\n"
     "   22049  sleep root 0 1.45M 2.44M 0.0 0.006 0:00.0\n"),
    (["stats", "sleeper"], {"name": "sleeper", "info": {"21570": INFO}},
     f"sleeper:\n21570: {LINE}\n"),
    (["stats", "sleeper", "21570"], {"process": 21570, "info": INFO}, f"21570: {LINE}\n\n"),
    (["incr", "w", "--waiting"], {"numprocesses": 3}, "3\n"),
    (["incr", "w"], {}, "ok\n"),
    (["decr", "one"], {"numprocesses": 1, "singleton": True},
     "This watcher is a Singleton - not changing the number of processes\n"),
    (["start", "w", "--waiting"], {"info": {"started": [1], "kept": []}}, "ok\n"),
    (["quit"], {}, "ok\n"),
    (["signal", "w", "HUP"], {}, "ok\n"),
]


@pytest.mark.parametrize(("argv", "reply", "expected"), CASES,
                         ids=[" ".join(c[0]) for c in CASES])
def test_console_lines(daemon, capsys, argv, reply, expected):
    daemon.replies[argv[0]] = reply
    assert main(["--endpoint", daemon.endpoint, *argv]) == 0
    out, err = capsys.readouterr()
    assert out == expected
    assert err == ""


def test_error_reply_goes_to_stderr_with_exit_3(daemon, capsys):
    daemon.replies["incr"] = {"status": "error", "reason": "program nothere not found",
                              "errno": 3, "tb": None}
    assert main(["--endpoint", daemon.endpoint, "incr", "nothere"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: program nothere not found\n"


def test_json_prints_raw_reply_even_for_errors(daemon, capsys):
    import json

    daemon.replies["status"] = {"status": "error", "reason": "boom", "errno": 5}
    assert main(["--endpoint", daemon.endpoint, "--json", "status"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    reply = json.loads(out)
    assert reply["reason"] == "boom" and reply["id"] == daemon.last()["id"]


def test_prettify_indents_two_and_sorts_keys(daemon, capsys):
    daemon.replies["list"] = {"watchers": ["a"]}
    assert main(["--endpoint", daemon.endpoint, "--json", "--prettify", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "{"
    assert lines[1].startswith('  "id": ')
    keys = [line.split('"')[1] for line in lines if line.startswith('  "')]
    assert keys == sorted(keys) == ["id", "status", "time", "watchers"]


def test_ipython_without_kernel_is_an_error(daemon, capsys):
    daemon.replies["ipython"] = {"shell": False, "msg": "no ipython"}
    assert main(["--endpoint", daemon.endpoint, "ipython"]) == 3
    assert "Could not start ipython kernel: no ipython" in capsys.readouterr().err
