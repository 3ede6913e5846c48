"""A circusd with CURVE on runs its helpers, and they work through CURVE; strangers do not.

circusd hands its own key file to the plugins and the web console it runs
(``[plugin:NAME]``, ``httpd = True``): the flapping plugin still stops a crash
loop, and circushttpd still shows the watchers. Upstream's circusctl 0.19,
which cannot speak CURVE, gets nothing; ours with an operator key drives the
watchers and is refused ``add``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import zmq
from _circus_run import PYTHON, CircusRun, Daemon, wait_for, watcher_section
from circus.client import EventSubscriber, load_curve_keys, write_key_pair
from conftest import free_port

CRASH = "import sys, time; time.sleep(0.05); sys.exit(3)"
FLAPPING = ("[plugin:flapping]\nuse = circus.plugins.flapping.Flapping\n"
            "attempts = 2\nwindow = 5\nretry_in = 60\nmax_retry = 0\n\n")


class Curve:
    """circusd's key pair and an operator's, with the authorized directory."""

    def __init__(self, root: Path) -> None:
        self.server_public, self.server_secret = write_key_pair(str(root / "keys"), "circusd")
        self.op_public, self.op_secret = write_key_pair(str(root / "keys"), "ops", "operator")
        self.authorized = root / "authorized"
        self.authorized.mkdir()
        (self.authorized / "ops.key").write_text(Path(self.op_public).read_text())

    def circus_lines(self) -> str:
        return (f"curve_secret_key = {self.server_secret}\n"
                f"curve_authorized_keys = {self.authorized}\n")

    def call(self, endpoint: str, command: str, timeout: float = 10.0,
             **props: Any) -> dict[str, Any] | None:
        """One request as the operator; None if no reply comes within ``timeout``."""
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        load_curve_keys(self.server_public, self.op_secret).secure(sock)
        try:
            sock.connect(endpoint)
            msg_id = uuid.uuid4().hex
            sock.send(json.dumps({"command": command, "properties": props,
                                  "id": msg_id}).encode())
            if not sock.poll(int(timeout * 1000)):
                return None
            reply: dict[str, Any] = json.loads(sock.recv())
            assert reply["id"] == msg_id
            return reply
        finally:
            sock.close()


def _start(run: CircusRun, curve: Curve, sections: str, extra: str = "") -> Daemon:
    config, endpoint, pubsub = run.config("ours", sections,
                                          circus_extra=curve.circus_lines() + extra)
    log = run.tmp_path / "ours.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*run.ours_argv("circusd"), str(config)],
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT,
                                   env=run.client_env(dict(os.environ)), cwd=run.tmp_path,
                                   start_new_session=True)
    daemon = Daemon("ours", process, endpoint, pubsub, config, log)
    run.daemons.append(daemon)

    def answers() -> bool:
        reply = curve.call(endpoint, "status", timeout=0.5)
        return not daemon.running() or (reply is not None and reply["status"] == "ok")

    wait_for(answers, "circusd to answer with CURVE", 30)
    assert daemon.running(), daemon.log_text()
    return daemon


def _status(curve: Curve, daemon: Daemon, name: str) -> str | None:
    reply = curve.call(daemon.endpoint, "status", name=name)
    return None if reply is None else str(reply.get("status"))


def test_the_flapping_plugin_acts_through_curve(circus_run: CircusRun) -> None:
    curve = Curve(circus_run.tmp_path)
    crasher = (f"[watcher:crasher]\ncmd = {shlex.quote(PYTHON)} -c {shlex.quote(CRASH)} "
               f"{circus_run.token}\n\n")
    daemon = _start(circus_run, curve, crasher + FLAPPING)
    # The plugin subscribed to the events and called stop, both with circusd's key.
    wait_for(lambda: _status(curve, daemon, "crasher") == "stopped",
             "flapping to stop the crash loop", 30)
    assert "Traceback" not in daemon.log_text()


def _page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_circushttpd_shows_the_watchers_through_curve(circus_run: CircusRun) -> None:
    curve = Curve(circus_run.tmp_path)
    port = free_port()
    _start(circus_run, curve, watcher_section("w", circus_run.token),
           f"httpd = true\nhttpd_host = 127.0.0.1\nhttpd_port = {port}\n")
    wait_for(lambda: '"w"' in (_page(f"http://127.0.0.1:{port}/api/state") or ""),
             "the watcher on the console", 30)


def test_circusctl_listen_with_curve_keys_gets_the_events(circus_run: CircusRun) -> None:
    curve = Curve(circus_run.tmp_path)
    daemon = _start(circus_run, curve, watcher_section("w", circus_run.token))
    keys = ["--curve-server-key", curve.server_public, "--curve-key", curve.op_secret]
    listener = circus_run.ours_listen(daemon.pubsub, *keys, "listen", "watcher.w.")
    try:
        def heard() -> bool:
            reply = curve.call(daemon.endpoint, "publish_action", name="w", source="test",
                               action="ping")
            assert reply is not None and reply["status"] == "ok", reply
            return any('"source": "test"' in line for line in listener.lines)

        wait_for(heard, "the CURVE listener to get an event")
    finally:
        code, err = listener.interrupt()
    assert code == 0 and "Traceback" not in err, err
    # Without keys, the library subscriber hears nothing (circus-core's tests cover
    # the raw sockets).
    with EventSubscriber(daemon.pubsub, ["watcher.w."]) as stranger:
        curve.call(daemon.endpoint, "publish_action", name="w", source="test", action="ping")
        assert stranger.recv(timeout=1.0) is None


def test_upstream_circusctl_gets_nothing_and_ours_obeys_the_role(upstream_run: CircusRun
                                                                 ) -> None:
    curve = Curve(upstream_run.tmp_path)
    daemon = _start(upstream_run, curve, watcher_section("w", upstream_run.token))
    theirs = upstream_run.upstream_ctl(daemon.endpoint, "--timeout", "2", "list", timeout=60)
    assert theirs.returncode != 0 and "w" not in theirs.stdout
    keys = ["--curve-server-key", curve.server_public, "--curve-key", curve.op_secret]
    ours = upstream_run.ours_ctl(daemon.endpoint, *keys, "incr", "w")
    assert ours.returncode == 0, ours.stderr
    refused = upstream_run.ours_ctl(daemon.endpoint, *keys, "add", "x", "sleep 1")
    assert refused.returncode == 3  # an error reply
    assert refused.stderr.strip() == ("error: permission denied: key 'ops' has role "
                                      "'operator', which may not run 'add' (admin only)")
