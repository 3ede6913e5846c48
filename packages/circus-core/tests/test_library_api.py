"""Circus as a library: the manual's snippet, ``Arbiter`` on its own or on a caller's loop,
``load_from_config``, and the documented ``Watcher`` and ``Process`` constructors.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import circus
import psutil
import pytest
from circus import get_arbiter
from circus.arbiter import Arbiter
from circus.process import DEAD_OR_ZOMBIE, OTHER, RUNNING, UNEXISTING, Process
from circus.watcher import Watcher
from conftest import pid_exists_not_zombie, poll, python_cmd

SNIPPET = """\
from circus import get_arbiter
myprogram = {"cmd": "python myprogram.py", "numprocesses": 4}
arbiter = get_arbiter([myprogram])
try:
    arbiter.start()
finally:
    arbiter.stop()
"""

MYPROGRAM = """\
import os, time
with open(f"{os.getpid()}.tmp", "w") as handle:
    handle.write(str(os.getppid()))
os.rename(f"{os.getpid()}.tmp", f"{os.getpid()}.pid")  # readers never see it half-written
while True:
    time.sleep(0.2)
"""

SLEEPER = "import time\nwhile True: time.sleep(0.2)"

REQUIRED = inspect.Parameter.empty


def _isolated_network(argv: list[str]) -> list[str]:
    """Run ``argv`` in a network namespace of its own when we may.

    The snippet binds upstream's default ports 5555/5556; in its own
    namespace it cannot collide with a real circusd or another test.
    """
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip and subprocess.run([unshare, "-n", "true"]).returncode == 0:
        return [unshare, "-n", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh", *argv]
    return argv


def test_the_manuals_snippet(circusd, tmp_path):
    # Verbatim but for `python`: a watcher without env or copy_env starts its
    # child with an empty environment, so a bare command is looked up in
    # os.defpath (/bin:/usr/bin) only, as in circus 0.19, and most systems
    # have no `python` there. The interpreter's absolute path stands in for it.
    assert SNIPPET.count('"cmd": "python ') == 1
    snippet = SNIPPET.replace('"cmd": "python ', f'"cmd": "{shlex.quote(sys.executable)} ')
    (tmp_path / "script.py").write_text(snippet)
    (tmp_path / "myprogram.py").write_text(MYPROGRAM)
    script = circusd.start(argv=_isolated_network([sys.executable, "script.py"]))
    pids = script.wait_children(4)
    poll(lambda: len(list(tmp_path.glob("*.pid"))) == 4)
    assert {int(p.name.split(".")[0]) for p in tmp_path.glob("*.pid")} == set(pids)
    assert {int(p.read_text()) for p in tmp_path.glob("*.pid")} == {script.pid}
    for pid in pids:
        assert psutil.Process(pid).cmdline()[1:] == ["myprogram.py"]
    assert script.stop(signal.SIGTERM) == 0  # stop() asserts the 4 children are gone
    assert "Traceback" not in script.stderr()


def test_start_with_callback_owns_the_loop():
    watcher = Watcher("sleeper", python_cmd(SLEEPER), numprocesses=2, graceful_timeout=2)
    arbiter = Arbiter([watcher], None, None, check_delay=0.1)
    seen: list[tuple[int, list[int]]] = []

    def cb(arb: Arbiter) -> None:
        seen.append((arb.numprocesses(), list(watcher.pids)))
        arb.stop()

    began = time.monotonic()
    assert arbiter.start(cb) is None  # blocks until cb's stop()
    assert time.monotonic() - began < 10
    [(count, pids)] = seen
    assert count == 2 and len(pids) == 2
    assert all(not pid_exists_not_zombie(pid) for pid in pids)
    assert arbiter.numprocesses() == 0
    assert watcher.status() == "stopped"
    # The loop's signal handlers are gone again: SIGTERM is back to its default.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_start_callback_may_be_a_coroutine():
    watcher = Watcher("sleeper", python_cmd(SLEEPER), graceful_timeout=2)
    arbiter = Arbiter([watcher], endpoint=None, pubsub_endpoint=None)
    calls = []

    async def cb(arb: Arbiter) -> None:
        await asyncio.sleep(0)
        calls.append(arb.numprocesses())
        arb.stop()

    arbiter.start(cb)
    assert calls == [1]


async def _run_on_callers_loop(arbiter: Arbiter, watcher: Watcher) -> None:
    starting = arbiter.start()  # on the loop's thread: an asyncio.Task
    assert isinstance(starting, asyncio.Task)
    await starting
    assert watcher.status() == "active"
    assert arbiter.numprocesses() == 3
    pids = watcher.pids
    assert all(pid_exists_not_zombie(pid) for pid in pids)
    stopping = arbiter.stop()  # a loop was given: a Task, never None
    assert stopping is not None
    await stopping
    assert arbiter.numprocesses() == 0
    assert watcher.status() == "stopped"
    assert all(not pid_exists_not_zombie(pid) for pid in pids)


async def test_start_and_stop_on_the_callers_asyncio_loop():
    watcher = Watcher("w", python_cmd(SLEEPER), numprocesses=3, graceful_timeout=2)
    arbiter = Arbiter([watcher], None, None, loop=asyncio.get_running_loop())
    assert arbiter.loop is asyncio.get_running_loop()
    await _run_on_callers_loop(arbiter, watcher)


async def test_start_on_a_tornado_ioloop():
    # The manual's Arbiter takes a tornado IOLoop; tornado (a test-only
    # dependency here) wraps the running asyncio loop.
    from tornado.ioloop import IOLoop

    ioloop = IOLoop.current()
    watcher = Watcher("w", python_cmd(SLEEPER), numprocesses=3, graceful_timeout=2)
    arbiter = Arbiter([watcher], None, None, loop=ioloop)
    assert arbiter.loop is asyncio.get_running_loop()
    await _run_on_callers_loop(arbiter, watcher)


async def test_start_callback_on_the_callers_loop():
    watcher = Watcher("w", python_cmd(SLEEPER), graceful_timeout=2)
    arbiter = Arbiter([watcher], None, None, loop=asyncio.get_running_loop())
    calls = []
    starting = arbiter.start(lambda arb: calls.append(arb.numprocesses()))
    assert isinstance(starting, asyncio.Task)
    await starting
    assert calls == [1]
    stopping = arbiter.stop()
    assert stopping is not None
    await stopping


def test_a_loop_of_another_kind_is_refused():
    with pytest.raises(TypeError, match="asyncio loop or a tornado IOLoop"):
        Arbiter([], loop=object())


async def test_load_from_config(tmp_path):
    config = tmp_path / "circus.ini"
    config.write_text(
        f"[circus]\nwarmup_delay = 0\ncheck_delay = 2\nendpoint = ipc://{tmp_path}/ctl\n"
        f"pubsub_endpoint = ipc://{tmp_path}/pub\n\n"
        f"[watcher:low]\ncmd = {sys.executable} -c 'import time; time.sleep(60)'\n"
        "priority = 1\ngraceful_timeout = 2\n\n"
        f"[watcher:high]\ncmd = {sys.executable} -c 'import time; time.sleep(60)'\n"
        "numprocesses = 2\npriority = 9\ngraceful_timeout = 2\n"
    )
    arbiter = Arbiter.load_from_config(str(config), loop=asyncio.get_running_loop())
    assert isinstance(arbiter, Arbiter)
    assert [w.name for w in arbiter.iter_watchers()] == ["high", "low"]
    assert arbiter.get_watcher("HIGH").numprocesses == 2
    assert arbiter.check_delay == 2
    assert arbiter.numwatchers() == 2
    starting = arbiter.start()  # on the loop's thread: an asyncio.Task
    assert isinstance(starting, asyncio.Task)
    await starting
    assert arbiter.numprocesses() == 3
    stopping = arbiter.stop()  # a loop was given: a Task, never None
    assert stopping is not None
    await stopping
    assert arbiter.numprocesses() == 0


def test_load_from_config_raises_config_error(tmp_path):
    config = tmp_path / "bad.ini"
    config.write_text("[watcher:web]\ncmd = sleep 60\nnumprocesses = two\n")
    with pytest.raises(circus.errors.ConfigError, match="numprocesses = two: expected an integer"):
        Arbiter.load_from_config(str(config))


def test_load_from_config_warns_about_an_unknown_key(tmp_path, caplog):
    # circus 0.19 loads such a config, so it loads; the typo is still named.
    config = tmp_path / "typo.ini"
    config.write_text("[watcher:web]\ncmd = sleep 60\nnumprocess = 2\n")
    with caplog.at_level(logging.WARNING, logger="circus"):
        arbiter = Arbiter.load_from_config(str(config))
    assert [w.numprocesses for w in arbiter.watchers] == [1]
    assert any("did you mean 'numprocesses'" in r.getMessage() for r in caplog.records)


# -- get_arbiter ------------------------------------------------------------------


def test_get_arbiter_names_the_watcher_after_the_program():
    arbiter = get_arbiter([{"cmd": "/usr/bin/env sleep 60"}, {"cmd": "python x.py", "name": "x"}])
    assert [w.name for w in arbiter.watchers] == ["env", "x"]
    assert arbiter.watchers[0].cmd == "/usr/bin/env sleep 60"
    assert arbiter.watchers[0].numprocesses == 1


def test_get_arbiter_passes_options_through():
    arbiter = get_arbiter(
        [{"cmd": "sleep 60", "numprocesses": 3, "env": {"B": "2"}, "priority": 4}],
        controller="tcp://127.0.0.1:7555", pubsub_endpoint="tcp://127.0.0.1:7556",
        env={"A": "1"}, debug=True, proc_name="mydaemon", check_delay=0.5,
    )
    [watcher] = arbiter.watchers
    assert (watcher.numprocesses, watcher.priority, watcher.env) == (3, 4, {"A": "1", "B": "2"})
    assert arbiter.endpoint == "tcp://127.0.0.1:7555"
    assert arbiter.pubsub_endpoint == "tcp://127.0.0.1:7556"
    assert (arbiter.debug, arbiter.proc_name, arbiter.check_delay) == (True, "mydaemon", 0.5)


def test_get_arbiter_defaults():
    arbiter = get_arbiter([{"cmd": "sleep 60"}])
    assert arbiter.endpoint == "tcp://127.0.0.1:5555"
    assert arbiter.pubsub_endpoint == "tcp://127.0.0.1:5556"
    assert arbiter.proc_name == "circusd"


def test_get_arbiter_refuses_gevent():
    with pytest.raises(ValueError, match="gevent"):
        get_arbiter([{"cmd": "sleep 60"}], stream_backend="gevent")


# -- the documented constructors ------------------------------------------------------

MANUAL_PROCESS = [
    ("name", REQUIRED), ("wid", REQUIRED), ("cmd", REQUIRED), ("args", None),
    ("working_dir", None), ("shell", False), ("uid", None), ("gid", None), ("env", None),
    ("rlimits", None), ("executable", None), ("use_fds", False), ("watcher", None),
    ("spawn", True), ("pipe_stdout", True), ("pipe_stderr", True),
    ("close_child_stdout", False), ("close_child_stderr", False),
]

MANUAL_WATCHER = [
    ("name", REQUIRED), ("cmd", REQUIRED), ("args", None), ("numprocesses", 1),
    ("warmup_delay", 0.0), ("working_dir", None), ("shell", False), ("shell_args", None),
    ("uid", None), ("max_retry", 5), ("gid", None), ("send_hup", False), ("stop_signal", 15),
    ("stop_children", False), ("env", None), ("graceful_timeout", 30.0), ("prereload_fn", None),
    ("rlimits", None), ("executable", None), ("stdout_stream", None), ("stderr_stream", None),
    ("priority", 0), ("loop", None), ("singleton", False), ("use_sockets", False),
    ("copy_env", False), ("copy_path", False), ("max_age", 0), ("max_age_variance", 30),
    ("hooks", None), ("respawn", True), ("autostart", True), ("on_demand", False),
    ("virtualenv", None), ("close_child_stdout", False), ("close_child_stderr", False),
    ("virtualenv_py_ver", None), ("use_papa", False),
]

MANUAL_ARBITER = [
    ("watchers", REQUIRED), ("endpoint", "tcp://127.0.0.1:5555"),
    ("pubsub_endpoint", "tcp://127.0.0.1:5556"), ("check_delay", 1.0), ("prereload_fn", None),
    ("context", None), ("loop", None), ("statsd", False), ("stats_endpoint", None),
    ("statsd_close_outputs", False), ("multicast_endpoint", None), ("plugins", None),
    ("sockets", None), ("warmup_delay", 0), ("httpd", False), ("httpd_host", "localhost"),
    ("httpd_port", 8080), ("httpd_close_outputs", False), ("debug", False),
    ("debug_gc", False), ("ssh_server", None), ("proc_name", "circusd"), ("pidfile", None),
    ("loglevel", None), ("logoutput", None), ("loggerconfig", None), ("fqdn_prefix", None),
    ("umask", None), ("endpoint_owner", None), ("papa_endpoint", None),
]


@pytest.mark.parametrize(("cls", "manual"), [
    (Process, MANUAL_PROCESS), (Watcher, MANUAL_WATCHER), (Arbiter, MANUAL_ARBITER),
], ids=["Process", "Watcher", "Arbiter"])
def test_constructor_matches_the_manual(cls, manual):
    # Same names, same order (so positional calls keep working), same defaults;
    # our own extra options may only follow the manual's.
    params = list(inspect.signature(cls).parameters.values())
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in positional[: len(manual)]] == manual


def test_watcher_keeps_the_manuals_options():
    def prereload() -> None:
        pass

    watcher = Watcher(
        "web", "python app.py", args=["--port", "8000"], numprocesses=3, warmup_delay=0.5,
        working_dir="/tmp", shell=False, uid=None, max_retry=-1, send_hup=True,
        stop_signal="QUIT", stop_children=True, env={"A": "1"}, graceful_timeout=4,
        prereload_fn=prereload, rlimits={"nofile": 1024}, executable="/usr/bin/python3",
        stdout_stream={"class": "StdoutStream"}, priority=7, use_sockets=True,
        copy_env=True, copy_path=True, max_age=60, max_age_variance=5, respawn=False,
        autostart=False, on_demand=False, close_child_stdout=True, close_child_stderr=True,
        flapping_attempts="2",
    )
    assert (watcher.name, watcher.cmd, watcher.args) == ("web", "python app.py",
                                                         ["--port", "8000"])
    assert (watcher.numprocesses, watcher.warmup_delay, watcher.working_dir) == (3, 0.5, "/tmp")
    assert (watcher.max_retry, watcher.send_hup, watcher.stop_children) == (-1, True, True)
    assert watcher.stop_signal == signal.SIGQUIT
    assert (watcher.env, watcher.graceful_timeout, watcher.prereload_fn) == (
        {"A": "1"}, 4, prereload)
    assert (watcher.rlimits, watcher.executable) == ({"nofile": 1024}, "/usr/bin/python3")
    assert (watcher.priority, watcher.use_sockets, watcher.copy_env, watcher.copy_path) == (
        7, True, True, True)
    assert (watcher.max_age, watcher.max_age_variance) == (60, 5)
    assert (watcher.respawn, watcher.autostart) == (False, False)
    assert (watcher.close_child_stdout, watcher.close_child_stderr) == (True, True)
    assert watcher.options == {"flapping_attempts": "2"}  # extra options kept for plugins
    assert watcher.status() == "stopped"


def test_watcher_refuses_contradictory_options():
    with pytest.raises(ValueError, match="singleton"):
        Watcher("w", "sleep 1", singleton=True, numprocesses=2)
    with pytest.raises(ValueError, match="copy_env"):
        Watcher("w", "sleep 1", copy_path=True)


def test_process_status_constants():
    assert (RUNNING, DEAD_OR_ZOMBIE, UNEXISTING, OTHER) == (0, 1, 2, 3)


# A child that spawns one grandchild, and reaps it itself when told to stop, so
# no orphan is ever re-parented to the test process.
PARENT = """\
import signal, subprocess, sys, time
kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
def on_term(signum, frame):
    kid.terminate()
    kid.wait()
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGUSR1, lambda *a: open("usr1", "w").close())
print(kid.pid, flush=True)
while True:
    time.sleep(0.1)
"""


def test_process_api(tmp_path):
    process = Process("top", 1, python_cmd(PARENT), working_dir=str(tmp_path),
                      pipe_stderr=False)
    try:
        assert process.pid > 0
        assert process.status == RUNNING
        assert process.wid == 1 and process.name == "top"
        assert process.stdout is not None and process.stderr is None
        kid = int(os.read(process.stdout, 100).split()[0])  # printed once it is spawned
        assert process.children() == [kid]
        assert process.is_child(kid)
        first = process.age()
        assert first > 0
        poll(lambda: process.age() > first)

        info = process.info()
        for key in ("mem_info1", "mem_info2", "cpu", "mem", "ctime", "pid", "username",
                    "nice", "cmdline"):
            assert key in info, key
        assert "error" not in info
        assert info["pid"] == process.pid
        assert info["cmdline"].startswith(sys.executable)
        assert info["username"] == psutil.Process().username()
        assert info["mem_info1"] > 0 and info["mem_info2"] >= info["mem_info1"]
        assert -20 <= info["nice"] <= 20

        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not (tmp_path / "usr1").exists():
            assert time.monotonic() < deadline, "SIGUSR1 never arrived"
            time.sleep(0.01)
    finally:
        process.stop()
    assert process.status == UNEXISTING
    assert process.returncode == 0
    assert process.stdout_fd is None  # the pipe was closed by stop()
    assert not pid_exists_not_zombie(kid) and not pid_exists_not_zombie(process.pid)
    assert "error" in process.info()
    process.stop()  # stopping twice is harmless


def test_process_without_spawn():
    process = Process("later", 2, "sleep 1", spawn=False)
    assert process.pid == 0
    assert process.status == UNEXISTING
    assert process.age() == 0.0
    process.stop()


def test_a_stand_alone_process_that_exited_is_dead_or_zombie():
    """Like the manual's ``Process('Top', ...)`` example: exited, unreaped, then stopped."""
    process = Process("Top", 1, "exit 0", shell=True)
    poll(lambda: process.status == DEAD_OR_ZOMBIE)  # exited, not reaped yet
    assert process.age() > 0
    assert process.info()["pid"] == process.pid
    process.stop()
    assert process.status == UNEXISTING
