"""Each circusctl command sends upstream's command name and properties (bugs fixed)."""

from __future__ import annotations

import pytest
from circus.ctl._main import main

CASES = [
    (["add", "dyn", "sleep", "5"], "add", {"name": "dyn", "cmd": "sleep 5", "start": False}),
    (["add", "dyn", "sleep 5", "--start"], "add", {"name": "dyn", "cmd": "sleep 5", "start": True}),
    (["decr", "w"], "decr", {"name": "w", "waiting": False}),
    (["decr", "w", "2", "--waiting"], "decr", {"name": "w", "nb": 2, "waiting": True}),
    (["incr", "w"], "incr", {"name": "w", "waiting": False}),
    (["incr", "w", "3"], "incr", {"name": "w", "nb": 3, "waiting": False}),
    (["dstats"], "dstats", {}),
    (["get", "w", "numprocesses", "env"], "get", {"name": "w", "keys": ["numprocesses", "env"]}),
    (["globaloptions"], "globaloptions", {}),
    (["globaloptions", "check_delay"], "globaloptions", {"option": "check_delay"}),
    (["ipython"], "ipython", {}),
    (["kill", "w"], "kill", {"name": "w"}),
    (["kill", "w", "12", "--signum", "TERM", "--graceful_timeout", "2", "--waiting"], "kill",
     {"name": "w", "pid": 12, "signum": "TERM", "graceful_timeout": 2.0, "waiting": True}),
    (["list"], "list", {}),
    (["list", "w"], "list", {"name": "w"}),
    (["listsockets"], "listsockets", {}),
    (["numprocesses"], "numprocesses", {}),
    (["numprocesses", "w"], "numprocesses", {"name": "w"}),
    (["numwatchers"], "numwatchers", {}),
    (["version"], "version", {}),
    (["options", "w"], "options", {"name": "w"}),
    (["quit"], "quit", {"waiting": False}),
    (["quit", "--waiting"], "quit", {"waiting": True}),
    (["reload"], "reload", {"graceful": True, "waiting": False, "sequential": False}),
    (["reload", "w", "--terminate", "--sequential", "--waiting"], "reload",
     {"name": "w", "graceful": False, "waiting": True, "sequential": True}),
    (["reloadconfig", "--waiting"], "reloadconfig", {"waiting": True}),
    (["restart"], "restart", {"waiting": False, "match": "glob"}),
    (["restart", "w*", "--match", "regex", "--waiting"], "restart",
     {"name": "w*", "waiting": True, "match": "regex"}),
    (["start", "w"], "start", {"name": "w", "waiting": False, "match": "glob"}),
    (["stop", "w", "--match", "simple"], "stop",
     {"name": "w", "waiting": False, "match": "simple"}),
    (["rm", "w"], "rm", {"name": "w"}),
    (["rm", "w", "--nostop", "--waiting"], "rm", {"name": "w", "nostop": True, "waiting": True}),
    (["set", "w", "numprocesses", "2", "graceful_timeout", "3"], "set",
     {"name": "w", "waiting": False, "options": {"numprocesses": 2, "graceful_timeout": 3.0}}),
    (["set", "w", "env", "A=1,B=2", "--waiting"], "set",
     {"name": "w", "waiting": True, "options": {"env": {"A": "1", "B": "2"}}}),
    (["set", "w", "send_hup", "true", "stop_signal", "QUIT", "hooks",
      "before_start:m.f,after_stop:m.g"], "set", {"name": "w", "waiting": False, "options": {
         "send_hup": True, "stop_signal": 3,
         "hooks": {"before_start": "m.f", "after_stop": "m.g"}}}),
    (["set", "w", "cmd", "sleep 9", "uid", "1000"], "set",
     {"name": "w", "waiting": False, "options": {"cmd": "sleep 9", "uid": 1000}}),
    (["signal", "w", "HUP"], "signal",
     {"name": "w", "children": False, "recursive": False, "signum": "HUP"}),
    (["signal", "w", "12", "9", "--recursive"], "signal",
     {"name": "w", "pid": 12, "children": False, "recursive": True, "signum": "9"}),
    (["signal", "w", "12", "13", "SIGUSR1", "--children"], "signal",
     {"name": "w", "pid": 12, "childpid": 13, "children": True, "recursive": False,
      "signum": "SIGUSR1"}),
    (["stats"], "stats", {"extended": False}),
    (["stats", "w", "12", "--extended"], "stats", {"name": "w", "process": 12, "extended": True}),
    (["status"], "status", {}),
    (["status", "w"], "status", {"name": "w"}),
    (["tail", "w"], "tail", {"name": "w", "lines": 10}),
    (["tail", "w", "-n", "3"], "tail", {"name": "w", "lines": 3}),
]


@pytest.mark.parametrize(("argv", "command", "props"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_sends_upstream_properties(daemon, capsys, argv, command, props):
    daemon.replies["ipython"] = {"shell": False}
    main(["--endpoint", daemon.endpoint, *argv])
    request = daemon.last()
    assert request["command"] == command
    assert request["properties"] == props
    assert len(request["id"]) == 32 and int(request["id"], 16) >= 0


def test_every_command_is_covered():
    from circus.ctl._commands import COMMANDS

    covered = {case[1] for case in CASES} | {"listen"}
    assert covered == set(COMMANDS)
