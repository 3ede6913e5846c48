"""``stats`` and ``dstats``: upstream's keys, without ever stalling the daemon."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal

from circus.watcher import Watcher
from conftest import apoll, python_cmd

from ._client import Client

SLEEPER = python_cmd("import time\nwhile True: time.sleep(0.2)")
# A process with one child, to see ``children`` filled in.
PARENT = python_cmd("import subprocess, time\n"
                    "child = subprocess.Popen(['sleep', '60'])\n"
                    "while True: time.sleep(0.2)")
INFOLINE = {"pid", "cmdline", "username", "nice", "mem_info1", "mem_info2", "cpu", "mem",
            "ctime", "create_time", "age", "children"}


def extra_stats(watcher, arbiter, hook_name, pid, stats):
    """An ``extended_stats`` hook: adds a key in place."""
    stats["extra"] = f"hello {pid}"


async def test_stats_of_one_watcher_and_of_everything(make_arbiter):
    harness = await make_arbiter(Watcher("Sleeper", SLEEPER, numprocesses=2, graceful_timeout=2),
                                 channels=True)
    sleeper = harness.watcher("sleeper")
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("stats", name="sleeper", extended=False)
        assert reply["status"] == "ok" and reply["name"] == "sleeper"
        assert set(reply["info"]) == {str(pid) for pid in sleeper.pids}
        for pid, info in reply["info"].items():
            assert INFOLINE | {"started", "wid"} <= set(info)
            assert info["pid"] == int(pid)
            assert info["cmdline"] == os.path.basename(sleeper.cmd.split()[0].strip("'"))
            assert isinstance(info["cpu"], float) and isinstance(info["mem"], float)
            assert info["mem_info1"][-1] in "BKMG" and ":" in info["ctime"]
            assert info["wid"] in (1, 2)
        reply = await client.call("stats")
        assert set(reply["infos"]) == {"Sleeper"}
        assert set(reply["infos"]["Sleeper"]) == {str(pid) for pid in sleeper.pids}


async def test_stats_of_one_process_with_children(make_arbiter):
    harness = await make_arbiter(Watcher("parent", PARENT, graceful_timeout=2), channels=True)
    [pid] = harness.watcher("parent").pids
    async with Client(harness.arbiter.endpoint) as client:
        for _ in range(100):  # the child starts a moment after its parent
            reply = await client.call("stats", name="parent", process=str(pid))
            if reply["info"]["children"]:
                break
        assert reply["process"] == pid
        [child] = reply["info"]["children"]
        assert set(child) >= INFOLINE and child["cmdline"] == "sleep"


async def test_stats_errors(make_arbiter):
    harness = await make_arbiter(Watcher("sleeper", SLEEPER, graceful_timeout=2), channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("stats", name="sleeper", process=1)
        assert reply["errno"] == 3 and reply["reason"] == "process 1 not found in 'sleeper'"
        reply = await client.call("stats", name="ghost")
        assert reply["errno"] == 3 and reply["reason"] == "program ghost not found"
        reply = await client.call("stats", process=1)
        assert reply["reason"] == "message invalid 'name' is missing"


async def test_extended_stats_hook_adds_keys(make_arbiter):
    hooks = {"extended_stats": (f"{__name__}.extra_stats", False)}
    harness = await make_arbiter(Watcher("sleeper", SLEEPER, graceful_timeout=2, hooks=hooks),
                                 channels=True)
    [pid] = harness.watcher("sleeper").pids
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("stats", name="sleeper", extended=True)
        assert reply["info"][str(pid)]["extra"] == f"hello {pid}"
        reply = await client.call("stats", name="sleeper", extended=False)
        assert "extra" not in reply["info"][str(pid)]


async def test_dstats(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("dstats")
    info = reply["info"]
    assert set(info) >= INFOLINE
    assert info["pid"] == os.getpid() and info["children"] == []
    assert info["cmdline"] == os.path.basename(os.readlink("/proc/self/exe")) or info["cmdline"]


async def test_status_is_answered_during_stats_of_many_processes(make_arbiter):
    # How fast (the status median and p99 during a 1000-process stats) is the
    # bench's ctl-stats scenario; here: stats yields, so status keeps answering.
    sleep = shutil.which("sleep")
    harness = await make_arbiter(Watcher("many", f"{sleep} 120", numprocesses=1000,
                                         graceful_timeout=2), channels=True)
    assert len(harness.watcher("many").pids) == 1000
    async with Client(harness.arbiter.endpoint) as stats_client, \
            Client(harness.arbiter.endpoint) as client:
        stats = asyncio.ensure_future(stats_client.call("stats", name="many", timeout=60))
        answered = 0
        while not stats.done():
            reply = await client.call("status", name="many", timeout=30)
            assert reply["status"] == "active"
            answered += 1
        reply = stats.result()
    assert len(reply["info"]) == 1000
    assert answered >= 3  # status kept being answered while stats ran


async def test_stats_reuses_each_process_psutil_object_between_calls(make_arbiter, monkeypatch):
    import psutil

    harness = await make_arbiter(Watcher("sleeper", SLEEPER, numprocesses=3, graceful_timeout=2),
                                 channels=True)
    sleeper = harness.watcher("sleeper")
    made: list[int] = []
    real = psutil.Process

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, pid: int | None = None) -> None:
            made.append(os.getpid() if pid is None else pid)  # psutil: None is us
            super().__init__(pid)

    monkeypatch.setattr(psutil, "Process", Counting)
    async with Client(harness.arbiter.endpoint) as client:
        first = await client.call("stats", name="sleeper")
        assert sorted(made) == sorted(sleeper.pids)  # one psutil object per process...
        made.clear()
        second = await client.call("stats", name="sleeper")
        assert made == []  # ...kept on the process for the next call
        third = await client.call("stats", name="sleeper", process=sleeper.pids[0])
        assert made == []
        assert set(first["info"]) == set(second["info"]) == {str(p) for p in sleeper.pids}
        assert third["info"]["pid"] == sleeper.pids[0]
        # A respawned process is a new process: it gets its own object.
        old = sleeper.pids[0]
        os.kill(old, signal.SIGKILL)
        await apoll(lambda: len(sleeper.pids) == 3 and old not in sleeper.pids)
        [new] = set(sleeper.pids) - {int(pid) for pid in second["info"]}
        fourth = await client.call("stats", name="sleeper")
        assert made == [new]
        assert set(fourth["info"]) == {str(p) for p in sleeper.pids}
