"""add and rm through the dispatcher."""

from __future__ import annotations

import getpass
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import apoll, pid_exists_not_zombie, python_cmd

from .conftest import fields


async def test_add_with_args_options_and_start(make_arbiter: Any, ctl: Any,
                                               tmp_path: Path) -> None:
    harness = await make_arbiter()
    out = tmp_path / "out.txt"
    reply = await ctl(harness)(
        "add", name="Dyn", cmd=python_cmd("import os, sys; print(sys.argv[1:], "
                                          "os.environ['GREETING']); import time; "
                                          "time.sleep(60)"),
        args=["a b", "c"], start=True, waiting=True,
        options={"numprocesses": 2, "env": {"GREETING": "hi"}, "graceful_timeout": 1.5,
                 "stdout_stream": {"class": "FileStream", "filename": str(out)},
                 "flapping.max_retry": "3", "max_retry": "4"})
    assert fields(reply) == {}
    dyn = harness.watcher("dyn")
    assert dyn.name == "Dyn" and dyn.status() == "active" and len(dyn.pids) == 2
    assert dyn.graceful_timeout == 1.5 and dyn.max_retry == 4
    assert dyn.options["flapping.max_retry"] == "3"
    await apoll(lambda: out.exists() and out.read_text().count("['a b', 'c'] hi") == 2)
    assert "watcher.dyn.add" in harness.topics()


async def test_add_without_start_and_string_args(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter()
    reply = await ctl(harness)("add", name="later", cmd="sleep", args="60", waiting=True)
    assert fields(reply) == {}
    later = harness.watcher("later")
    assert later.status() == "stopped" and later.args == "60"
    await ctl(harness)("start", name="later", waiting=True)
    assert len(later.pids) == 1


async def test_add_integer_rlimit_works(make_arbiter: Any, ctl: Any, tmp_path: Path) -> None:
    harness = await make_arbiter()
    out = tmp_path / "limit"
    code = ("import resource, sys; open(sys.argv[1], 'w').write("
            "str(resource.getrlimit(resource.RLIMIT_NOFILE))); import time; time.sleep(60)")
    reply = await ctl(harness)("add", name="lim", cmd=python_cmd(code), args=[str(out)],
                               start=True, waiting=True,
                               options={"rlimit_nofile": 200, "rlimit_core": None})
    assert fields(reply) == {}
    await apoll(lambda: out.exists() and out.read_text() == "(200, 200)")
    assert harness.watcher("lim").rlimits == {"nofile": 200, "core": None}


@pytest.mark.parametrize("props, errno, reason", [
    ({"cmd": "sleep 1"}, 3, "message invalid 'name' is missing"),
    ({"name": "x"}, 3, "message invalid 'cmd' is missing"),
    ({"name": "a.b", "cmd": "sleep 1"}, 3, "invalid watcher name 'a.b': it contains a dot"),
    ({"name": " ", "cmd": "sleep 1"}, 3, "watcher name is empty"),
    ({"name": "EXISTING", "cmd": "sleep 1"}, 5, "watcher 'EXISTING' already exists"),
    ({"name": "x", "cmd": "sleep 1", "options": {"bogus": 1}}, 3, "unknown option 'bogus'"),
    ({"name": "x", "cmd": "sleep 1", "options": {"numprocesses": "many"}}, 3,
     "cannot set 'numprocesses'"),
    ({"name": "x", "cmd": "sleep 1", "options": {"rlimit_bogus": 1}}, 3,
     "cannot set 'rlimit_bogus': unknown resource limit"),
    ({"name": "x", "cmd": "sleep 1", "options": {"env": ["A=1"]}}, 3, "cannot set 'env'"),
    ({"name": "x", "cmd": "sleep 1", "options": {"hooks.before_nap": "a.b"}}, 3,
     "cannot set 'hooks.before_nap': unknown hook"),
    ({"name": "x", "cmd": "sleep 1", "options": {"hooks": {"before_start": "no.such.x"}}}, 3,
     "cannot add watcher 'x'"),
    ({"name": "x", "cmd": "sleep 1", "options": {"singleton": True, "numprocesses": 2}}, 3,
     "cannot add watcher 'x'"),
    ({"name": "x", "cmd": "sleep 1", "args": 5}, 3, "property 'args'"),
    ({"name": "x", "cmd": "sleep 1", "options": []}, 3, "property 'options'"),
])
async def test_add_errors(make_arbiter: Any, ctl: Any, props: dict[str, Any], errno: int,
                          reason: str) -> None:
    harness = await make_arbiter(Watcher("existing", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("add", waiting=True, **props)
    assert (reply["status"], reply["errno"]) == ("error", errno)
    assert reply["reason"].startswith(reason), reply["reason"]
    assert [w.name for w in harness.arbiter.watchers] == ["existing"]
    assert not harness.topics(".add")


async def test_add_with_endpoint_owner_requires_uid(make_arbiter: Any, ctl: Any) -> None:
    me = getpass.getuser()
    harness = await make_arbiter(endpoint_owner=me)
    call = ctl(harness)
    reply = await call("add", name="x", cmd="sleep 60", waiting=True)
    assert reply["errno"] == 3 and "endpoint_owner" in reply["reason"]
    reply = await call("add", name="x", cmd="sleep 60", waiting=True, options={"uid": 0 if
                       os.getuid() else 65534})
    assert reply["errno"] == 3 and "options.uid" in reply["reason"]
    reply = await call("add", name="x", cmd="sleep 60", waiting=True,
                       options={"uid": str(os.getuid())})
    assert reply["status"] == "ok" and harness.watcher("x").uid == os.getuid()


async def test_rm_emits_remove_then_stops(make_arbiter: Any, ctl: Any) -> None:
    harness = await make_arbiter(Watcher("gone", "sleep 60", numprocesses=2,
                                         graceful_timeout=5))
    pids = harness.watcher("gone").pids
    reply = await ctl(harness)("rm", name="GONE", waiting=True)
    assert fields(reply) == {}
    assert harness.arbiter.watchers == []
    assert not any(pid_exists_not_zombie(p) for p in pids)
    topics = [t for t in harness.topics() if t.split(".")[-1] in ("remove", "kill", "stop")]
    assert topics[0] == "watcher.gone.remove" and topics[-1] == "watcher.gone.stop"
    reply = await ctl(harness)("rm", name="gone")
    assert (reply["errno"], reply["reason"]) == (3, "program gone not found")


async def test_rm_nostop_leaves_processes_running_then_reaps(make_arbiter: Any, ctl: Any,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "log"
    watcher = Watcher("keep", python_cmd("import time; print('up'); time.sleep(60)"),
                      numprocesses=2, stdout_stream={"class": "FileStream",
                                                     "filename": str(out)})
    harness = await make_arbiter(watcher)
    pids = watcher.pids
    reply = await ctl(harness)("rm", name="keep", nostop=True, waiting=True)
    assert fields(reply) == {}
    assert harness.arbiter.watchers == []
    assert "watcher.keep.remove" in harness.topics()
    assert all(pid_exists_not_zombie(p) for p in pids)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    # Collected (no zombie), not respawned, not announced.
    await apoll(lambda: not watcher.processes)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
    assert not harness.topics(".spawn")[2:]
    assert not harness.topics(".reap")
    await apoll(lambda: watcher._closing is not None and watcher._closing.done())


async def test_add_and_rm_take_effect_before_the_next_command(make_arbiter: Any,
                                                              ctl: Any) -> None:
    # Commands handled back to back, with no loop turn in between (as when
    # they arrive in one batch), see each other's effects.
    import json

    harness = await make_arbiter()
    dispatcher = ctl(harness).dispatcher

    def handle(command: str, **properties: Any) -> dict[str, Any]:
        outcome = dispatcher.handle(json.dumps(
            {"command": command, "properties": properties, "id": "x"}).encode())
        assert isinstance(outcome, bytes), command  # answered at once
        reply: dict[str, Any] = json.loads(outcome)
        return reply

    assert handle("add", name="quick", cmd="sleep 60")["status"] == "ok"
    assert handle("status", name="quick")["status"] == "stopped"
    assert handle("rm", name="quick", nostop=True)["status"] == "ok"
    assert handle("add", name="quick", cmd="sleep 30")["status"] == "ok"
    assert harness.watcher("quick").cmd == "sleep 30"
    added = [t for t in harness.topics(".add") if t.startswith("watcher.")]
    assert added == ["watcher.quick.add"] * 2
