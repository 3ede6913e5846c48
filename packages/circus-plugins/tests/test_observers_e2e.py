"""RedisObserver, HttpObserver and CommandReloader against real peers and a real circusd."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _peers import PYTHON, Circusd, Plugin, UdpListener, free_port, script, wait_for

SLEEPER = "import time\nwhile True: time.sleep(1)\n"


def _statsd(peers) -> UdpListener:
    listener = UdpListener()
    peers["closers"].append(listener.close)
    return listener


# -- redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> str:
    path = shutil.which("redis-server")
    assert path is not None, "redis-server is missing: make system-deps installs it"
    return path


def test_redis_info_gauges_and_restart_on_timeout(tmp_path: Path, peers, redis_server) -> None:
    """Upstream passed the timeout positionally (TypeError on current redis-py) and restarted
    only on connection errors, never on a server that hangs."""
    port = free_port()
    daemon = Circusd(tmp_path, f"""
        [watcher:redis]
        cmd = {redis_server} --port {port} --bind 127.0.0.1 --save "" --appendonly no
        working_dir = {tmp_path}
        graceful_timeout = 1
    """).start()
    peers["daemons"].append(daemon)
    statsd = _statsd(peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.redis_observer.RedisObserver",
                    f"redis_url:redis://127.0.0.1:{port}/0:::timeout:0.5:::loop_rate:0.3"
                    f":::restart_on_timeout:redis:::port:{statsd.port}")
    peers["plugins"].append(plugin)
    prefix = "circus.redis_observer.watcher.redis_stats."
    wait_for(lambda: any(line.startswith(prefix + "used_memory:") for line in statsd.drain()),
             "redis gauges")
    assert any(line.startswith(prefix + "uptime_in_seconds:") for line in statsd.lines)
    first = daemon.pids("redis")
    os.kill(first[0], signal.SIGSTOP)  # alive, listening, never answering
    wait_for(lambda: daemon.pids("redis") and daemon.pids("redis") != first,
             "the redis watcher to be restarted")
    assert prefix + "error:1|c" in statsd.drain()
    assert prefix + "restart_on_error:1|c" in statsd.lines
    assert "TimeoutError" in plugin.output()


# -- http ----------------------------------------------------------------------------------


class _Switch(BaseHTTPRequestHandler):
    mode = "ok"

    def do_GET(self) -> None:
        if self.mode == "slow":
            time.sleep(1.5)
        code = 500 if self.mode == "fail" else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Switch]]]:
    handler = type("Handler", (_Switch,), {"mode": "ok"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health", handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_observer_times_and_restarts(tmp_path: Path, peers, http_server) -> None:
    """Upstream's used tornado APIs gone since tornado 5/6 (#1165) and never ran."""
    url, handler = http_server
    sleeper = script(tmp_path, "sleep.py", SLEEPER)
    daemon = Circusd(tmp_path, f"[watcher:web]\ncmd = {PYTHON} {sleeper}\n").start()
    peers["daemons"].append(daemon)
    statsd = _statsd(peers)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.http_observer.HttpObserver",
                    f"check_url:{url}:::loop_rate:0.2:::timeout:0.5:::restart_on_error:web"
                    f":::port:{statsd.port}")
    peers["plugins"].append(plugin)
    prefix = "circus.http_observer.watcher.http_stats."
    wait_for(lambda: any(line.startswith(prefix + "request_time:") and line.endswith("|ms")
                         for line in statsd.drain()), "a request timing")
    first = daemon.pids("web")
    handler.mode = "fail"
    wait_for(lambda: prefix + "error.500:1|c" in statsd.drain(), "the HTTP 500 counter")
    wait_for(lambda: daemon.pids("web") and daemon.pids("web") != first, "web restarted")
    assert prefix + "restart_on_error:1|c" in statsd.drain()
    handler.mode = "slow"
    wait_for(lambda: prefix + "error.ReadTimeout:1|c" in statsd.drain(), "a timeout counter")
    handler.mode = "ok"


# -- command reloader ------------------------------------------------------------------------


def test_command_reloader_restarts_on_change_and_skips_non_paths(tmp_path: Path,
                                                                  peers) -> None:
    """Upstream resolved './run.sh' against its own cwd; the FileNotFoundError ended the pass
    before any later watcher was checked."""
    program = tmp_path / "worker"
    program.write_text(f"#!{PYTHON}\n{SLEEPER}")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    relative = tmp_path / "run.sh"
    relative.write_text(f"#!/bin/sh\nexec {PYTHON} -c 'import time; time.sleep(3600)'\n")
    relative.chmod(relative.stat().st_mode | stat.S_IXUSR)
    daemon = Circusd(tmp_path, f"""
        [watcher:aaa-relative]
        cmd = ./run.sh
        working_dir = {tmp_path}

        [watcher:zzz-worker]
        cmd = {program}
    """).start()
    peers["daemons"].append(daemon)
    plugin = Plugin(tmp_path, daemon, "circus.plugins.command_reloader.CommandReloader",
                    "loop_rate:0.2")
    peers["plugins"].append(plugin)
    plugin.started()
    first = daemon.pids("zzz-worker")
    kept = daemon.pids("aaa-relative")
    wait_for(lambda: "cmd './run.sh' is not a program file" in plugin.output(),
             "a pass over both watchers")
    later = time.time() + 10
    os.utime(program, (later, later))
    wait_for(lambda: daemon.pids("zzz-worker") and daemon.pids("zzz-worker") != first,
             "zzz-worker restarted")
    assert "zzz-worker: " + str(program) + " modified: restarting the watcher" in plugin.output()
    assert daemon.pids("aaa-relative") == kept
    assert "Error" not in plugin.output()
