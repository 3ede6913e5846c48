"""Webhook against a real circusd and a real HTTP receiver: signed notices, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _peers import PYTHON, Circusd, Plugin, script, wait_for


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    failures_left = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
        else:
            cls.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "failures_left": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()
    thread.join()


def _notices(handler: type[_Receiver]) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in handler.received]


def test_crash_loop_and_flapping_stop_are_notified_signed(tmp_path: Path, peers,
                                                           receiver) -> None:
    url, handler = receiver
    handler.failures_left = 1  # the first delivery is retried
    crash = script(tmp_path, "crash.py", "import sys, time; time.sleep(0.05); sys.exit(4)\n")
    sleeper = script(tmp_path, "sleep.py", "import time\nwhile True: time.sleep(1)\n")
    daemon = Circusd(tmp_path, f"""
        [watcher:crasher]
        cmd = {PYTHON} {crash}

        [watcher:calm]
        cmd = {PYTHON} {sleeper}
        numprocesses = 3
    """).start()
    peers["daemons"].append(daemon)
    hook = Plugin(tmp_path, daemon, "circus.plugins.notify.Webhook",
                  f"url:{url}:::secret:s3cret:::crash_count:2:::crash_window:30"
                  ":::retry_delay:0.1", label="webhook")
    peers["plugins"].append(hook)
    hook.started()
    flapping = Plugin(tmp_path, daemon, "circus.plugins.flapping.Flapping",
                      "attempts:3:::window:10:::max_retry:0", label="flapping")
    peers["plugins"].append(flapping)
    flapping.started()
    notices = wait_for(lambda: [n["event"] for n in _notices(handler)] == ["crashing",
                                                                             "stopped"]
                       and _notices(handler), "a crashing then a stopped notice", 30)
    assert notices[0]["watcher"] == "crasher" and notices[0]["last_exit_code"] == 4
    assert notices[1]["watcher"] == "crasher"
    for headers, body in handler.received:
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["X-Circus-Signature"] == expected
        assert headers["Content-Type"] == "application/json"
    # Commanded stops of a healthy watcher are not crashes.
    daemon.call("stop", name="calm", waiting=True)
    assert "calm" not in hook.output().replace("plugin", "")
    assert "notice delivered" in hook.output()


def test_undeliverable_notices_are_logged(tmp_path: Path, peers, receiver) -> None:
    url, handler = receiver
    handler.failures_left = 100
    crash = script(tmp_path, "crash.py", "import sys; sys.exit(1)\n")
    daemon = Circusd(tmp_path, f"[watcher:crasher]\ncmd = {PYTHON} {crash}\n").start()
    peers["daemons"].append(daemon)
    hook = Plugin(tmp_path, daemon, "circus.plugins.notify.Webhook",
                  f"url:{url}:::crash_count:2:::retries:2:::retry_delay:0.05")
    peers["plugins"].append(hook)
    hook.wait_log("notice not delivered to " + url + " after 3 attempts: HTTP 503")
    assert handler.received == []
