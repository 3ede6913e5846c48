"""on_demand end to end: the real circusd, a [socket:web] and examples/web.py.

The watcher has ``on_demand = true``: circusd binds the socket at start but
starts no worker until a connection arrives; the connection that woke it waits
in the socket's backlog and is served by the worker started for it.
"""

from __future__ import annotations

import http.client
import shlex
import time
from pathlib import Path

from _circus_run import PYTHON, CircusRun, Daemon, alive, check, children_of
from conftest import free_port

WEB_APP = Path(__file__).resolve().parent.parent / "examples" / "web.py"


def start_on_demand(run: CircusRun) -> tuple[Daemon, int]:
    port = free_port()
    cmd = f"{shlex.quote(PYTHON)} -u {shlex.quote(str(WEB_APP))} --fd $(circus.sockets.web)"
    # copy_env passes the test's marker on to the workers, so teardown finds them.
    sections = (
        f"[socket:web]\nhost = 127.0.0.1\nport = {port}\n\n"
        f"[watcher:web]\ncmd = {cmd}\nnumprocesses = 1\non_demand = true\n"
        "copy_env = True\ngraceful_timeout = 5\n"
    )
    config, endpoint, pubsub = run.config("on-demand", sections)
    return run.start("ours", config, endpoint, pubsub), port


def get(port: int) -> tuple[int, bytes]:
    """One GET / on a fresh connection: (the answering worker's pid, the body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, (response.status, body)
    return int(response.headers["X-Worker-Pid"]), body


def test_on_demand_watcher_starts_at_the_first_connection_and_serves_it(
    circus_run: CircusRun,
) -> None:
    daemon, port = start_on_demand(circus_run)
    # Bound and listening, but nothing runs, through several check_delay
    # periods (1 s in these configs) without a connection.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert daemon.call("status", name="web")["status"] == "stopped"
        assert daemon.pids("web") == []
        assert children_of(daemon.process.pid) == []
        time.sleep(0.1)

    pid, body = get(port)  # this connection wakes the watcher, and is served
    assert body.startswith(b"hello from worker %d" % pid)
    assert daemon.pids("web") == [pid] and alive(pid)
    assert daemon.call("status", name="web")["status"] == "active"
    assert children_of(daemon.process.pid) == [pid]

    # The running worker serves later connections; nothing else is started.
    assert get(port)[0] == pid
    assert daemon.pids("web") == [pid]

    # Stopped, it waits for the next connection again, which starts a new one.
    check(circus_run.ours_ctl(daemon.endpoint, "stop", "web", "--waiting"), stdout="ok\n")
    assert daemon.pids("web") == [] and not alive(pid)
    assert children_of(daemon.process.pid) == []
    again, _ = get(port)
    assert again != pid and daemon.pids("web") == [again]
