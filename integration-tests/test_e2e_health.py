"""Health checks and depends_on through the real binaries: circusd on an INI file,
the control channel and the event channel."""

from __future__ import annotations

import random
import shlex
import socket
from pathlib import Path

from _circus_run import PYTHON, CircusRun, check, wait_for
from test_e2e_backoff import Events

# argv: port, seconds before listening. Accepted connections are closed at once.
TCP_SERVER = ("import socket, sys, time\n"
              "time.sleep(float(sys.argv[2]))\n"
              "s = socket.socket()\n"
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
              "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
              "s.listen(16)\n"
              "while True:\n"
              "    s.accept()[0].close()\n")
# argv: port, file holding the status line to answer.
HTTP_SERVER = ("import socket, sys\n"
               "s = socket.socket()\n"
               "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
               "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
               "s.listen(16)\n"
               "while True:\n"
               "    c = s.accept()[0]\n"
               "    c.recv(4096)\n"
               "    status = open(sys.argv[2]).read().strip()\n"
               "    c.sendall(('HTTP/1.0 ' + status + '\\r\\n\\r\\n' + status).encode())\n"
               "    c.close()\n")


def free_port_prefix() -> str:
    """P such that ports P1..P9 are free (a port per wid: ``P$(circus.wid)``)."""
    for _ in range(200):
        prefix = str(random.randint(2000, 6000))
        ok = True
        for wid in range(1, 10):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", int(f"{prefix}{wid}")))
                except OSError:
                    ok = False
                    break
        if ok:
            return prefix
    raise AssertionError("no free port range")


def script(path: Path, code: str, *args: str) -> str:
    path.write_text(code)
    return " ".join([shlex.quote(PYTHON), shlex.quote(str(path)), *args])


def test_readiness_gates_start_order_and_unhealthy_workers_are_replaced(
    circus_run: CircusRun, tmp_path: Path
) -> None:
    db_port, web_port = free_port_prefix(), free_port_prefix()
    status = tmp_path / "status"
    status.write_text("200 OK")
    token = circus_run.token
    db_cmd = script(tmp_path / "db.py", TCP_SERVER, f"{db_port}$(circus.wid)", "0.7", token)
    web_cmd = script(tmp_path / "web.py", HTTP_SERVER, f"{web_port}$(circus.wid)",
                     str(status), token)
    sections = (
        f"[watcher:web]\ncmd = {web_cmd}\nnumprocesses = 2\npriority = 10\n"
        f"graceful_timeout = 5\ndepends_on = db\n"
        f"check = http://127.0.0.1:{web_port}$(circus.wid)/health\n"
        "check_interval = 0.3\ncheck_timeout = 1\ncheck_retries = 2\n\n"
        f"[watcher:db]\ncmd = {db_cmd}\ngraceful_timeout = 5\n"
        f"check = tcp://127.0.0.1:{db_port}$(circus.wid)\ncheck_interval = 0.3\n"
        "check_timeout = 2\n")
    config, endpoint, pubsub = circus_run.config("health", sections)
    events = Events(pubsub, "watcher.")
    try:
        daemon = circus_run.start("ours", config, endpoint, pubsub)
        web = daemon.wait_pids("web", 2, timeout=30)

        def all_ready() -> bool:
            health = daemon.call("status", verbose=True)["health"]
            return bool(health == {"db": {str(p): "ready" for p in daemon.pids("db")},
                              "web": {str(p): "ready" for p in web}})

        wait_for(all_ready, "every process ready", 30)
        reply = daemon.call("list", name="web")
        assert reply["health"] == {str(p): "ready" for p in web}
        assert daemon.call("status", name="db", verbose=True)["health"] == {
            str(daemon.pids("db")[0]): "ready"}
        options = daemon.call("options", name="web")["options"]
        assert options["depends_on"] == ["db"] and options["check_retries"] == 2

        received = events.drain()
        db_ready = next(b for t, b in received if t == "watcher.db.ready")
        web_spawns = [b for t, b in received if t == "watcher.web.spawn"]
        assert len(web_spawns) == 2
        assert all(b["time"] >= db_ready["time"] for b in web_spawns), received

        status.write_text("500 Internal Server Error")
        wait_for(lambda: len([t for t, _ in events.drain() if t == "watcher.web.unhealthy"])
                 >= 2, "both web processes unhealthy", 30)
        unhealthy = [b for t, b in events.received if t == "watcher.web.unhealthy"]
        assert {b["process_pid"] for b in unhealthy} >= set(web)
        assert all("HTTP/1.0 500 Internal Server Error" in b["output"] for b in unhealthy)
        status.write_text("200 OK")
        replaced = daemon.wait_pids("web", 2, timeout=30)
        assert not set(replaced) & set(web)
        log = daemon.log_text()
        assert "is unhealthy (2 failed probes); restarting it" in log, log

        # circusctl still prints upstream's status line.
        check(circus_run.ours_ctl(endpoint, "status", "web"), stdout="active\n")
    finally:
        events.close()

