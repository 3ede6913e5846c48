"""Zero-downtime reloads, proven under load.

circusd binds ``[socket:web]`` on a free port and runs four workers of
``examples/web.py`` on it. A load generator sends one-request connections
from several threads for the whole test, while the test drives the watcher
with our circusctl. Because circusd keeps the listening socket open across
every change of workers, a connection is never refused, and a graceful worker
finishes the request it holds, so nothing fails and nothing is reset.
"""

from __future__ import annotations

import http.client
import json
import shlex
import threading
from pathlib import Path

import zmq
from _circus_run import PYTHON, CircusRun, Daemon, alive, check, wait_for
from _web_load import Load
from conftest import free_port

WEB_APP = Path(__file__).resolve().parent.parent / "examples" / "web.py"


class Events:
    """The web watcher's spawn and kill events, in the order circusd published them."""

    def __init__(self, pubsub: str) -> None:
        self.seen: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, args=(pubsub,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the event subscriber did not start"

    def _listen(self, pubsub: str) -> None:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"watcher.web.")
        sock.connect(pubsub)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if sock.poll(50):
                    topic, body = sock.recv_multipart()
                    event = topic.decode().rsplit(".", 1)[1]
                    if event in ("spawn", "kill"):
                        self.seen.append((event, int(json.loads(body)["process_pid"])))
        finally:
            sock.close()

    def mark(self) -> int:
        return len(self.seen)

    def wait(self, since: int, spawns: int, kills: int) -> None:
        """Wait until *spawns* spawn and *kills* kill events have arrived since *since*."""
        def arrived() -> bool:
            events = [event for event, _pid in self.seen[since:]]
            return events.count("spawn") >= spawns and events.count("kill") >= kills

        wait_for(arrived, f"{spawns} spawn and {kills} kill events")

    def peak(self, since: int, running: int) -> int:
        """The most processes alive at once since *since*, starting from *running*."""
        peak = running
        for event, _pid in self.seen[since:]:
            running += 1 if event == "spawn" else -1
            peak = max(peak, running)
        return peak

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def start_web(run: CircusRun, extra: str = "", kind: str = "ours") -> tuple[Daemon, int]:
    """circusd with ``[socket:web]`` on a free port and 4 workers of examples/web.py."""
    port = free_port()
    cmd = f"{shlex.quote(PYTHON)} -u {shlex.quote(str(WEB_APP))} --fd $(circus.sockets.web)"
    # copy_env passes the test's marker on to the workers, so teardown finds them.
    sections = (f"[socket:web]\nhost = 127.0.0.1\nport = {port}\n\n"
                f"[watcher:web]\ncmd = {cmd}\nnumprocesses = 4\nuse_sockets = True\n"
                f"copy_env = True\ngraceful_timeout = 5\n{extra}\n")
    config, endpoint, pubsub = run.config("web", sections)
    daemon = run.start(kind, config, endpoint, pubsub)
    daemon.wait_pids("web", 4)
    return daemon, port


def replaced(daemon: Daemon, old: list[int], count: int = 4) -> list[int]:
    """Wait until the watcher runs *count* processes, none of them in *old*."""
    def fresh() -> list[int] | None:
        pids = daemon.pids("web")
        ok = len(pids) == count and not set(pids) & set(old) and all(map(alive, pids))
        return pids if ok else None

    found: list[int] = wait_for(fresh, f"{count} processes replacing {old}", 20)
    return found


def test_reloads_resizes_and_kills_under_load_fail_no_request(circus_run: CircusRun) -> None:
    daemon, port = start_web(circus_run)
    ctl = circus_run.ours_ctl
    events = Events(daemon.pubsub)
    load = Load(port)
    load.start()
    try:
        first = daemon.pids("web")
        load.served_by(first)

        # Graceful: the four new workers start before any old one is stopped.
        mark = events.mark()
        check(ctl(daemon.endpoint, "reload", "web", "--waiting"))
        second = replaced(daemon, first)
        load.served_by(second)
        events.wait(mark, 4, 4)
        assert events.peak(mark, 4) == 8, events.seen[mark:]

        # Sequential: one worker at a time is stopped, then replaced.
        mark = events.mark()
        check(ctl(daemon.endpoint, "reload", "web", "--sequential", "--waiting"))
        third = replaced(daemon, second)
        load.served_by(third)
        events.wait(mark, 4, 4)
        assert events.peak(mark, 4) == 4, events.seen[mark:]
        assert [event for event, _pid in events.seen[mark:]] == ["kill", "spawn"] * 4

        check(ctl(daemon.endpoint, "incr", "web", "--waiting"), stdout="5\n")
        grown = daemon.wait_pids("web", 5)
        load.served_by(grown)
        check(ctl(daemon.endpoint, "decr", "web", "--waiting"), stdout="4\n")
        shrunk = daemon.wait_pids("web", 4)
        load.progress()

        victim = shrunk[0]
        check(ctl(daemon.endpoint, "kill", "web", str(victim), "--waiting"))
        wait_for(lambda: not alive(victim), f"worker {victim} to exit")
        after_kill = wait_for(lambda: (pids := daemon.pids("web")) and len(pids) == 4
                              and victim not in pids and pids, "the killed worker's replacement")
        load.served_by(after_kill)
    finally:
        load.stop()
        events.close()
    load.check("reload, reload --sequential, incr, decr, kill")
    assert "Traceback" not in daemon.log_text(), daemon.log_text()


def test_send_hup_reload_signals_the_workers_in_place(circus_run: CircusRun) -> None:
    daemon, port = start_web(circus_run, "send_hup = True\n")
    load = Load(port)
    load.start()
    try:
        before = daemon.pids("web")
        load.served_by(before)
        check(circus_run.ours_ctl(daemon.endpoint, "reload", "web", "--waiting"))
        # Same processes, each of which got SIGHUP exactly once.
        assert sorted(daemon.pids("web")) == sorted(before)
        for pid in before:
            def hupped(pid: int = pid) -> bool:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/")
                body = conn.getresponse().read()
                conn.close()
                return f"worker {pid} (hups: 1)".encode() in body
            wait_for(lambda: any(hupped() for _ in range(20)), f"worker {pid} to report a HUP")
        load.progress()
    finally:
        load.stop()
    load.check("reload with send_hup")


def test_restart_of_the_socket_watcher_keeps_the_socket(circus_run: CircusRun) -> None:
    daemon, port = start_web(circus_run)
    load = Load(port)
    load.start()
    try:
        before = daemon.pids("web")
        load.served_by(before)
        check(circus_run.ours_ctl(daemon.endpoint, "restart", "web", "--waiting"))
        after = replaced(daemon, before)
        load.served_by(after)
    finally:
        load.stop()
    # restart stops every worker before starting new ones; circusd still holds
    # the listening socket, so connections made in the gap wait in its backlog
    # and the new workers answer them.
    load.check("restart")
