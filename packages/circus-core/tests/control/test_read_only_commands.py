"""Every read-only command answers with upstream's exact reply keys."""

from __future__ import annotations

import signal
import socket
from typing import Any

import circus
from circus.watcher import Watcher
from conftest import apoll, python_cmd

from ._client import Client

SLEEPER = python_cmd("import time\nwhile True: time.sleep(0.2)")


def _free_form() -> dict[str, Any]:
    return {"flapping.max_retry": "3"}


def _watchers() -> list[Watcher]:
    return [
        Watcher("Sleeper", SLEEPER, numprocesses=2, graceful_timeout=2, stop_signal="INT",
                env={"A": "1"}, **_free_form()),
        Watcher("idle", SLEEPER, autostart=False, graceful_timeout=2),
    ]


def _keys(reply: dict[str, Any]) -> set[str]:
    return set(reply) - {"time", "id"}


async def test_list_and_status(make_arbiter):
    harness = await make_arbiter(*_watchers(), channels=True)
    sleeper = harness.watcher("sleeper")
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("list")
        assert _keys(reply) == {"status", "watchers"}
        assert reply["watchers"] == ["idle", "sleeper"]  # lowercased, sorted
        reply = await client.call("list", name="SLEEPER")
        assert reply["pids"] == sleeper.pids and len(reply["pids"]) == 2
        reply = await client.call("status")
        assert reply["statuses"] == {"Sleeper": "active", "idle": "stopped"}  # names as given
        reply = await client.call("status", name="sleeper")
        assert _keys(reply) == {"status"} and reply["status"] == "active"
        reply = await client.call("status", name="idle")
        assert reply["status"] == "stopped"


async def test_list_leaves_out_dead_processes(make_arbiter):
    harness = await make_arbiter(*_watchers(), channels=True)
    sleeper = harness.watcher("sleeper")
    async with Client(harness.arbiter.endpoint) as client:
        victim = sleeper.pids[0]
        sleeper.respawn = False
        sleeper.processes[victim].send_signal(signal.SIGKILL)
        await apoll(lambda: victim not in sleeper.processes or
                    not sleeper.processes[victim].is_alive)
        assert victim not in (await client.call("list", name="sleeper"))["pids"]


async def test_numwatchers_and_numprocesses(make_arbiter):
    harness = await make_arbiter(*_watchers(), channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("numwatchers")
        assert _keys(reply) == {"status", "numwatchers"} and reply["numwatchers"] == 2
        reply = await client.call("numprocesses")
        assert _keys(reply) == {"status", "numprocesses"} and reply["numprocesses"] == 2
        reply = await client.call("numprocesses", name="SLEEPER")
        assert reply["numprocesses"] == 2 and reply["watcher_name"] == "SLEEPER"


async def test_globaloptions(make_arbiter):
    harness = await make_arbiter(channels=True, check_delay=2, stats_endpoint="tcp://x:1")
    arbiter = harness.arbiter
    async with Client(arbiter.endpoint) as client:
        reply = await client.call("globaloptions")
        assert reply["options"] == {
            "endpoint": arbiter.endpoint, "pubsub_endpoint": arbiter.pubsub_endpoint,
            "stats_endpoint": "tcp://x:1", "check_delay": 2.0, "multicast_endpoint": None,
        }
        assert isinstance(reply["options"]["check_delay"], float)
        reply = await client.call("globaloptions", option="endpoint")
        assert reply["options"] == {"endpoint": arbiter.endpoint}
        reply = await client.call("globaloptions", option="loglevel")
        assert reply["status"] == "error" and reply["errno"] == 3
        assert reply["reason"] == "'loglevel' not an existing option"


class FakeSocket:
    """What a circus socket exposes to listsockets (sockets are another issue)."""

    def __init__(self, sock: socket.socket, **attrs: object) -> None:
        self.sock = sock
        self.__dict__.update(attrs)

    def fileno(self) -> int:
        return self.sock.fileno()


async def test_listsockets(make_arbiter, tmp_path):
    tcp = socket.socket()
    unix = socket.socket(socket.AF_UNIX)
    try:
        sockets = {
            "Web": FakeSocket(tcp, host="127.0.0.1", port=8080, backlog=128),
            "ctl": FakeSocket(unix, path=str(tmp_path / "s.sock"), backlog=5),
            "broken": object(),  # no fileno: left out, never an error
        }
        harness = await make_arbiter(channels=True, sockets=sockets)
        async with Client(harness.arbiter.endpoint) as client:
            reply = await client.call("listsockets")
        expected = sorted([
            {"fd": tcp.fileno(), "name": "web", "host": "127.0.0.1", "port": 8080,
             "backlog": 128},
            {"fd": unix.fileno(), "name": "ctl", "path": str(tmp_path / "s.sock"), "backlog": 5},
        ], key=lambda entry: int(str(entry["fd"])))
        assert reply["sockets"] == expected
    finally:
        tcp.close()
        unix.close()


async def test_listsockets_without_sockets(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        assert (await client.call("listsockets"))["sockets"] == []


async def test_options_has_every_upstream_key_and_free_form_ones(make_arbiter):
    harness = await make_arbiter(*_watchers(), channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("options", name="sleeper")
    options = reply["options"]
    upstream = {
        "numprocesses", "warmup_delay", "working_dir", "uid", "gid", "send_hup", "stop_signal",
        "stop_children", "shell", "shell_args", "env", "max_retry", "cmd", "args", "respawn",
        "graceful_timeout", "executable", "use_sockets", "priority", "copy_env", "singleton",
        "stdout_stream_conf", "stderr_stream_conf", "on_demand", "max_age", "max_age_variance",
        "close_child_stdin", "close_child_stdout", "close_child_stderr",
    }
    assert upstream <= set(options)
    assert options["stop_signal"] == int(signal.SIGINT)
    assert options["graceful_timeout"] == 2.0 and isinstance(options["graceful_timeout"], float)
    assert options["env"] == {"A": "1"}
    assert options["stdout_stream_conf"] == {} and options["stderr_stream_conf"] == {}
    assert options["numprocesses"] == 2
    assert options["flapping.max_retry"] == "3"
    # whole-second ages are integers, as upstream reports them
    assert options["max_age"] == 0 and type(options["max_age"]) is int
    assert options["max_age_variance"] == 30 and type(options["max_age_variance"]) is int


async def test_get(make_arbiter):
    harness = await make_arbiter(*_watchers(), channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("get", name="sleeper", keys=["numprocesses", "env",
                                                               "flapping.max_retry"])
        assert reply["options"] == {"numprocesses": 2, "env": {"A": "1"},
                                    "flapping.max_retry": "3"}
        reply = await client.call("get", name="sleeper", keys=["numprocesses", "bogus"])
        assert reply["status"] == "error" and reply["errno"] == 3
        assert reply["reason"] == "'bogus' option not found"
        reply = await client.call("get", name="sleeper")
        assert reply["reason"] == "message invalid 'keys' is missing"


async def test_ipython_and_listen(make_arbiter):
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("ipython")
        assert reply["status"] == "ok" and reply["shell"] is False
        assert "IPython" in reply["msg"]
        reply = await client.call("listen")
        assert reply["status"] == "error" and reply["errno"] == 3
        assert reply["reason"] == "invalid message. use a pub/sub socket"


async def test_version_names_the_running_circus_core(make_arbiter):
    """``version`` (ours): circusd's own version, for a client checking an upgrade."""
    harness = await make_arbiter(channels=True)
    async with Client(harness.arbiter.endpoint) as client:
        reply = await client.call("version")
        assert _keys(reply) == {"status", "version"}
        assert reply["version"] == circus.__version__
        assert reply["status"] == "ok"
