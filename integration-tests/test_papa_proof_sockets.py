"""A web app on a papa-owned socket serves through three circusd restarts, failing nothing.

``[socket:web]`` and the four examples/web.py workers on it have
``use_papa = true``. The zero-downtime tests' load generator sends requests
for the whole test while circusd is ended three times (``circusctl quit``,
SIGTERM, ``circusctl quit``) and started again on the same config. While no
circusd runs, the workers must go on answering (papa holds the socket and the
workers); each new circusd must adopt the same four pids; no request may fail
or be reset.

Without use_papa, quit stops the workers and closes the socket: requests made
while circusd is down are refused.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from _circus_run import PYTHON, alive
from _papa_proof_run import PapaRun
from _web_load import Load
from conftest import free_port

WEB_APP = Path(__file__).resolve().parent.parent / "examples" / "web.py"
WORKERS = 4
HOW = ("quit", "term", "quit")


def test_three_restarts_fail_no_request(papa_run: PapaRun) -> None:
    port = free_port()
    # copy_env passes the test's marker on to the workers (web.py takes no extra argument).
    cmd = f"{shlex.quote(PYTHON)} -u {shlex.quote(str(WEB_APP))} --fd $(circus.sockets.web)"
    sections = (f"[socket:web]\nhost = 127.0.0.1\nport = {port}\nuse_papa = true\n\n"
                f"[watcher:web]\ncmd = {cmd}\nnumprocesses = {WORKERS}\nuse_sockets = True\n"
                f"use_papa = true\ncopy_env = True\ngraceful_timeout = 5\n")
    config, endpoint, pubsub = papa_run.papa_config("web", sections)
    daemon = papa_run.start_papa_daemon(config, endpoint, pubsub)
    pids = sorted(daemon.wait_pids("web", WORKERS))
    papa_run.seen.update(pids)
    sockets = papa_run.papa("list sockets")
    assert sockets.startswith("circus.web "), sockets
    load = Load(port)
    load.start()
    try:
        load.served_by(pids)
        for restart, how in enumerate(HOW):
            papa_run.stop_daemon(daemon, how)
            # No circusd: papa's socket and workers answer on their own.
            load.served_by(pids)
            assert all(alive(pid) for pid in pids), f"a worker died after {how}"
            daemon = papa_run.start_papa_daemon(config, endpoint, pubsub)
            assert sorted(papa_run.list_pids(daemon, "web")) == pids, (
                f"restart {restart} ({how}) did not adopt {pids}\n{daemon.log_text()}")
            load.progress()
    finally:
        load.stop()
    load.check(f"{len(HOW)} circusd restarts over papa")
    assert set(load.pids) == set(pids), f"answered by {sorted(load.pids)}, not only {pids}"
    assert "Traceback" not in papa_run.logs(), papa_run.logs()
