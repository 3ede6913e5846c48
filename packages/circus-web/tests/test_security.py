"""Login, sessions, XSRF, the read-only role, TLS and the audit trail, over real HTTP."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import zmq

from .conftest import Client, wait_for

MUTATIONS = [("start", {"name": "w"}), ("stop", {"name": "w"}), ("restart", {"name": "w"}),
             ("reload", {"name": "w"}), ("incr", {"name": "w"}), ("decr", {"name": "w"}),
             ("kill", {"name": "w", "pid": "1"}), ("set", {"name": "w", "key": "numprocesses",
                                                         "value": "5"}),
             ("add", {"name": "evil", "cmd": "touch /tmp/pwned"}), ("rm", {"name": "w"}),
             ("reloadconfig", {})]


def test_pages_need_a_login_and_cookies_are_locked_down(daemons: Any, webs: Any,
                                                        users_file: Path) -> None:
    circusd = daemons("")
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file))
    client = Client(web.base)
    status, headers, _ = client.request("GET", "/watchers")
    assert status == 302 and headers["Location"] == "/login"
    status, _, _ = client.request("GET", "/api/state")
    assert status == 401
    assert client.login("alice", "nope") == 403
    status, headers, _ = client.request("POST", "/login", {
        "username": "alice", "password": "wonderland", "_xsrf": client.xsrf()})
    assert status == 302
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.state()["user"] == "alice"
    # Logging out is a POST, and it really ends the session.
    status, _ = client.post("/logout", {"_xsrf": client.xsrf()})
    assert status == 302
    assert client.request("GET", "/api/state")[0] == 401


def test_login_is_rate_limited(daemons: Any, webs: Any, users_file: Path) -> None:
    circusd = daemons("")
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file))
    client = Client(web.base)
    assert [client.login("alice", f"guess{i}") for i in range(5)] == [403] * 5
    # Even the right password is refused while throttled.
    assert client.login("alice", "wonderland") == 429


def test_mutations_need_post_and_xsrf(daemons: Any, webs: Any, users_file: Path) -> None:
    circusd = daemons("")
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file))
    client = Client(web.base)
    assert client.login("alice", "wonderland") == 302
    status, _ = client.post("/api/n0/reloadconfig", {}, xsrf=False)
    assert status == 403
    assert client.request("GET", "/api/n0/stop?name=w")[0] == 405


def test_read_only_user_can_change_nothing(daemons: Any, webs: Any, users_file: Path,
                                           tmp_path: Path) -> None:
    circusd = daemons(_watcher_section(tmp_path))
    wait_for(lambda: len(circusd.pids("w")) == 2, what="two processes")
    before = circusd.pids("w")
    audit = f"ipc://{circusd.ipc}/audit"
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file),
               "--audit-endpoint", audit)
    context: zmq.Context[Any] = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"circushttpd.")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(audit)
    try:
        viewer = Client(web.base)
        assert viewer.login("bob", "builder") == 302
        state = viewer.state()
        assert state["role"] == "viewer"
        wait_for(lambda: "w" in viewer.state()["nodes"][0]["watchers"], what="the watcher")
        # The pages show no action to a viewer...
        _, _, page = viewer.request("GET", "/node/n0/watcher/w")
        assert 'data-action="stop"' not in page and "set-form" not in page
        _, _, page = viewer.request("GET", "/watchers")
        assert "bulk-act" not in page
        # ...and the server refuses every forged one, with a valid XSRF token.
        for action, fields in MUTATIONS:
            status, body = viewer.post(f"/api/n0/{action}", fields)
            assert status == 403, (action, status, body)
        assert circusd.pids("w") == before
        assert circusd.call("numprocesses", name="w")["numprocesses"] == 2
        assert "evil" not in circusd.call("list")["watchers"]
        # Each refusal was audited with the user, on the PUB channel too.
        seen: list[dict[str, Any]] = []
        while sum(r["result"] == "denied" for r in seen) < len(MUTATIONS) and sub.poll(5000):
            topic, body = sub.recv_multipart()
            assert topic == b"circushttpd.audit"
            seen.append(json.loads(body))
        denied = [r["action"] for r in seen if r["result"] == "denied" and r["user"] == "bob"]
        assert denied == [action for action, _ in MUTATIONS]
        assert "user=bob role=viewer action=stop" in web.log.read_text()
    finally:
        sub.close()
        context.term()


def test_admin_actions_work_and_are_audited(daemons: Any, webs: Any, users_file: Path,
                                            tmp_path: Path) -> None:
    circusd = daemons(_watcher_section(tmp_path))
    wait_for(lambda: len(circusd.pids("w")) == 2, what="two processes")
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file))
    admin = Client(web.base)
    assert admin.login("alice", "wonderland") == 302
    assert admin.post("/api/n0/incr", {"name": "w"})[0] == 200
    wait_for(lambda: len(circusd.pids("w")) == 3, what="a third process")
    status, body = admin.post("/api/n0/set", {"name": "w", "key": "numprocesses", "value": "1"})
    assert status == 200, body
    wait_for(lambda: len(circusd.pids("w")) == 1, what="one process")
    status, body = admin.post("/api/n0/kill", {"name": "w", "pid": "notapid"})
    assert status == 400 and "expected a whole number" in body["reason"]
    status, body = admin.post("/api/n0/stop", {"name": "nosuch"})
    assert status == 502 and "nosuch" in body["reason"]
    assert admin.post("/api/n0/stop", {"name": "w"})[0] == 200
    assert circusd.circusctl("status", "w") == "stopped"
    status, body = admin.post("/api/n0/reloadconfig", {})
    assert status == 200 and body["status"] == "ok", body
    log = web.log.read_text()
    assert "user=alice role=admin action=incr node=n0" in log
    assert "action=stop node=n0 target={\"name\": \"nosuch\"} result=error" in log


def test_tls_serves_https_with_secure_cookies(daemons: Any, webs: Any, users_file: Path,
                                              tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    circusd = daemons("")
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file),
               "--certfile", str(cert), "--keyfile", str(key), scheme="https")
    context = ssl.create_default_context(cafile=str(cert))
    client = Client(web.base, context)
    status, headers, _ = client.request("POST", "/login", {
        "username": "alice", "password": "wonderland", "_xsrf": client.xsrf()})
    assert status == 302
    assert "Secure" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert client.state()["nodes"][0]["endpoint"] == circusd.endpoint


def test_bearer_token_for_scripts(daemons: Any, webs: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("viewer " + "r" * 24 + "\nadmin " + "w" * 24 + "\n")
    circusd = daemons(_watcher_section(tmp_path))
    web = webs("--endpoint", circusd.endpoint, "--token-file", str(tokens),
               "--host", "0.0.0.0")  # allowed: authentication is configured
    client = Client(web.base.replace("0.0.0.0", "127.0.0.1"))
    reader = {"Authorization": "Bearer " + "r" * 24}
    writer = {"Authorization": "Bearer " + "w" * 24}
    assert client.request("GET", "/api/state", headers=reader)[0] == 200
    assert client.request("POST", "/api/n0/stop", {"name": "w"}, reader)[0] == 403
    status, _, body = client.request("POST", "/api/n0/stop", {"name": "w"}, writer)
    assert status == 200, body
    assert circusd.circusctl("status", "w") == "stopped"
    assert client.request("GET", "/api/state", headers={"Authorization": "Bearer x"})[0] == 401


def _watcher_section(tmp_path: Path) -> str:
    import sys

    worker = tmp_path / "idle.py"
    worker.write_text("import time\nwhile True:\n    time.sleep(1)\n")
    return (f"[watcher:w]\ncmd = {sys.executable} {worker}\nnumprocesses = 2\n"
            "copy_env = True\ngraceful_timeout = 2\n")




def test_names_are_escaped(daemons: Any, webs: Any, tmp_path: Path) -> None:
    """A watcher name is data, never markup (upstream's templates did not escape)."""
    import sys
    import urllib.parse

    circusd = daemons("")
    evil = "<img src=x onerror=alert(1)>"
    reply = circusd.call("add", name=evil, cmd=sys.executable, args=["-c", "pass"])
    web = webs("--endpoint", circusd.endpoint)
    client = Client(web.base)
    path = "/node/n0/watcher/" + urllib.parse.quote(evil)
    status, _, page = client.request("GET", path)
    assert evil not in page
    assert reply["status"] == "ok" and status == 200, reply
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_actions_are_published_on_the_nodes_event_channel(daemons: Any, webs: Any,
                                                         users_file: Path,
                                                         tmp_path: Path) -> None:
    circusd = daemons(_watcher_section(tmp_path))
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file))
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(circusd.pubsub)
    sub.setsockopt(zmq.SUBSCRIBE, b"watcher.w.action")
    heard: list[dict[str, Any]] = []

    def drain() -> list[dict[str, Any]]:
        while sub.poll(50):
            heard.append(json.loads(sub.recv_multipart()[1]))
        return heard

    try:
        # Subscribed once a ping of our own comes back.
        wait_for(lambda: circusd.call("publish_action", name="w", source="test",
                                      action="ping")["status"] == "ok" and drain(),
                 what="the subscription")
        admin = Client(web.base)
        assert admin.login("alice", "wonderland") == 302
        assert admin.post("/api/n0/incr", {"name": "w"})[0] == 200
        wait_for(lambda: any(e["source"] == "circushttpd:alice" for e in drain()),
                 what="the action on circusd's event channel")
        [event] = [e for e in heard if e["source"] == "circushttpd:alice"]
        assert event["action"] == "incr"
    finally:
        sub.close()
        context.term()
