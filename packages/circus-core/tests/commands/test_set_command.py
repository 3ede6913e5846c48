"""set: every accepted key really takes effect; keys that cannot change are refused."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import apoll, python_cmd

from .conftest import fields

# Writes "<pid> <cwd> <env MARK> <argv>" to the file in $OUT, then sleeps.
REPORT = python_cmd(
    "import os, sys, time; f = open(os.environ['OUT'], 'a'); "
    "f.write('%d %s %s %s\\n' % (os.getpid(), os.getcwd(), os.environ.get('MARK'), "
    "sys.argv[1:])); f.close(); time.sleep(60)")


def _report(path: Path) -> dict[int, list[str]]:
    if not path.exists():
        return {}
    lines = [line.split(" ", 3) for line in path.read_text().splitlines()]
    return {int(parts[0]): parts[1:] for parts in lines}


async def _reporter(make_arbiter: Any, tmp_path: Path, **options: Any) -> Any:
    out = tmp_path / "report"
    watcher = Watcher("app", REPORT, env={"OUT": str(out), "MARK": "old"}, graceful_timeout=5,
                      **options)
    harness = await make_arbiter(watcher)
    await apoll(lambda: set(watcher.pids) <= set(_report(out)))
    return harness, watcher, out


async def test_set_numprocesses_and_updated_events(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    watcher = harness.watcher("app")
    reply = await ctl(harness)("set", name="app", waiting=True,
                               options={"numprocesses": 3, "graceful_timeout": 3.0})
    assert fields(reply) == {}
    assert len(watcher.pids) == 3 and watcher.graceful_timeout == 3.0
    assert harness.topics(".updated") == ["watcher.app.updated"] * 2
    reply = await ctl(harness)("set", name="app", waiting=True, options={"numprocesses": "1"})
    assert len(watcher.pids) == 1


async def test_set_env_cmd_args_working_dir_respawns(make_arbiter: Any, ctl: Any,
                                                     tmp_path: Path) -> None:
    harness, watcher, out = await _reporter(make_arbiter, tmp_path)
    old = watcher.pids
    env = {"OUT": str(out), "MARK": "new"}
    reply = await ctl(harness)("set", name="app", waiting=True,
                               options={"env": env, "args": ["x", "y"],
                                        "working_dir": str(tmp_path)})
    assert fields(reply) == {}
    new = watcher.pids
    assert len(new) == 1 and not set(new) & set(old)  # graceful reload
    await apoll(lambda: new[0] in _report(out))
    assert _report(out)[new[0]] == [str(tmp_path), "new", "['x', 'y']"]
    reply = await ctl(harness)("set", name="app", waiting=True,
                               options={"cmd": REPORT.replace("time.sleep(60)",
                                                              "time.sleep(61)")})
    assert "61" in watcher.cmd
    await apoll(lambda: watcher.pids and watcher.pids[0] in _report(out))
    assert watcher.pids[0] != new[0]


async def test_set_env_as_text_even_with_send_hup(make_arbiter: Any, ctl: Any,
                                                  tmp_path: Path) -> None:
    harness, watcher, out = await _reporter(make_arbiter, tmp_path, send_hup=True)
    await ctl(harness)("set", name="app", waiting=True,
                       options={"env": f"OUT={out},MARK=text"})
    await apoll(lambda: watcher.pids[0] in _report(out))
    assert _report(out)[watcher.pids[0]][1] == "text"


async def test_set_respawn_false_then_true(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", numprocesses=2,
                                         graceful_timeout=5))
    watcher = harness.watcher("app")
    call = ctl(harness)
    await call("set", name="app", waiting=True, options={"respawn": False})
    victim, other = watcher.pids
    os.kill(victim, signal.SIGKILL)
    await apoll(lambda: watcher.pids == [other])
    reply = await call("set", name="app", waiting=True, options={"respawn": "true"})
    assert fields(reply) == {}
    assert len(watcher.pids) == 2  # the missing process came back


@pytest.mark.parametrize("key, value, attr, expected", [
    ("warmup_delay", "0.5", "warmup_delay", 0.5),
    ("send_hup", True, "send_hup", True),
    ("stop_signal", "INT", "stop_signal", signal.SIGINT),
    ("stop_children", "yes", "stop_children", True),
    ("max_retry", 7, "max_retry", 7),
    ("retry_in", 2, "retry_in", 2.0),
    ("singleton", True, "singleton", True),
    ("copy_env", True, "copy_env", True),
    ("close_child_stdout", True, "close_child_stdout", True),
    ("close_child_stderr", True, "close_child_stderr", True),
    ("close_child_stdin", False, "close_child_stdin", False),
    ("rlimit_nofile", 300, "rlimits", {"nofile": 300}),
    ("uid", os.getuid(), "uid", os.getuid()),
    ("gid", os.getgid(), "gid", os.getgid()),
    ("shell", True, "shell", True),
    ("max_age_variance", 1, "max_age_variance", 1.0),
    ("priority", 3, "priority", 3),
])
async def test_set_simple_keys(make_arbiter: Any, ctl: Any, key: str, value: Any, attr: str,
                               expected: Any) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("set", name="app", waiting=True, options={key: value})
    assert fields(reply) == {}, reply
    assert getattr(harness.watcher("app"), attr) == expected
    assert harness.topics(".updated") == ["watcher.app.updated"]
    assert harness.watcher("app").pids  # still running


async def test_set_stop_signal_is_used(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    await ctl(harness)("set", name="app", waiting=True, options={"stop_signal": "KILL"})
    await ctl(harness)("stop", name="app", waiting=True)
    codes = [p["exit_code"] for t, p in harness.events if t == "watcher.app.reap"]
    assert codes == [-signal.SIGKILL]


async def test_set_rlimit_reaches_new_processes(make_arbiter: Any, ctl: Any,
                                                tmp_path: Path) -> None:
    out = tmp_path / "lim"
    code = ("import resource, sys; open(sys.argv[1], 'w').write(str(resource.getrlimit("
            "resource.RLIMIT_NOFILE)[0])); import time; time.sleep(60)")
    harness = await make_arbiter(Watcher("app", python_cmd(code), args=[str(out)],
                                         graceful_timeout=5))
    await apoll(out.exists)
    await ctl(harness)("set", name="app", waiting=True, options={"rlimit_nofile": "123"})
    await apoll(lambda: out.read_text() == "123")


async def test_set_max_age_replaces_old_processes(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    watcher = harness.watcher("app")
    first = watcher.pids[0]
    await ctl(harness)("set", name="app", waiting=True,
                       options={"max_age": 0.3, "max_age_variance": 0})
    await apoll(lambda: watcher.pids and watcher.pids[0] != first)


async def test_set_stream_hot_swap(make_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    code = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.02)"
    harness = await make_arbiter(Watcher(
        "app", python_cmd(code), graceful_timeout=5,
        stdout_stream={"class": "FileStream", "filename": str(one)}))
    watcher = harness.watcher("app")
    pid = watcher.pids[0]
    await apoll(lambda: one.exists() and "tick" in one.read_text())
    reply = await ctl(harness)("set", name="app", waiting=True,
                               options={"stdout_stream.filename": str(two)})
    assert fields(reply) == {}
    await apoll(lambda: two.exists() and "tick" in two.read_text())
    assert watcher.pids == [pid]  # same process, new file
    size = one.stat().st_size
    await apoll(lambda: two.read_text().count("tick") > 5)
    assert one.stat().st_size == size


async def test_set_hooks_are_reimported(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("set", name="app", waiting=True,
                               options={"hooks.before_stop": "builtins.dict,true"})
    assert fields(reply) == {}
    assert "before_stop" in harness.watcher("app").hooks
    await ctl(harness)("stop", name="app", waiting=True)
    assert any(t == "watcher.app.hook_success" and p["name"] == "before_stop"
               for t, p in harness.events)


async def test_set_free_form_option(make_arbiter: Any, ctl: Any) -> None:
    free_form: dict[str, Any] = {"flapping.max_retry": "3"}
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5, **free_form))
    await ctl(harness)("set", name="app", waiting=True, options={"flapping.max_retry": 5})
    assert harness.watcher("app").options["flapping.max_retry"] == "5"


@pytest.mark.parametrize("options, errno, reason", [
    ({"use_sockets": True}, 3, "cannot set 'use_sockets': this option cannot change"),
    ({"on_demand": True}, 3, "cannot set 'on_demand'"),
    ({"stdin_socket": "x"}, 3, "cannot set 'stdin_socket'"),
    ({"name": "other"}, 3, "cannot set 'name'"),
    ({"bogus": 1}, 3, "unknown option 'bogus'"),
    ({"numprocesses": "many"}, 3, "cannot set 'numprocesses'"),
    ({"graceful_timeout": -1}, 3, "cannot set 'graceful_timeout'"),
    ({"hooks.after_start": "no.such.module"}, 3, "cannot set 'hooks.after_start'"),
    ({"stdout_stream.class": "NoSuchStream"}, 3, "cannot set 'stdout_stream.class'"),
    ({"singleton": True, "numprocesses": 2}, 5, "watcher app is a singleton"),
    ({"copy_path": True}, 3, "cannot set 'copy_path'"),
    ({"virtualenv": "/no/venv"}, 3,
     "cannot set 'virtualenv': virtualenv /no/venv: no site-packages for Python"),
    ({}, 3, "message invalid 'options' is empty"),
])
async def test_set_refusals(make_arbiter: Any, ctl: Any, options: dict[str, Any], errno: int,
                            reason: str) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("set", name="app", waiting=True, options=options)
    assert (reply["status"], reply["errno"]) == ("error", errno)
    assert reply["reason"].startswith(reason), reply["reason"]
    assert not harness.topics(".updated")
