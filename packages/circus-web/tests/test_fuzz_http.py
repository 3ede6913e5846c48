"""Fuzzing circushttpd with arbitrary HTTP requests: never a 500, and it keeps serving.

Requests are written byte by byte on a raw socket, so the method, the path,
the headers and the body can be anything, not just what an HTTP library
would send. Some carry a viewer's or an admin's bearer token so the fuzzing
reaches the handlers behind the login. Every request gets an HTTP status
line below 500, or the connection is closed; after every example the state
API still answers. At the end circushttpd logged no traceback and exits 0.

An admin request never asks circusd to run a command of the fuzzer's choosing
(``add``'s ``cmd`` and ``set``'s command options are replaced).
"""

from __future__ import annotations

import socket
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Client

EXAMPLES = 800
VIEWER = "r" * 24
ADMIN = "w" * 24

ACTIONS = ["start", "stop", "restart", "reload", "incr", "decr", "kill", "signal", "set",
           "add", "rm", "reloadconfig", "status", "x", ""]
PATHS = st.one_of(
    st.sampled_from(["/", "/login", "/logout", "/watchers", "/sockets", "/api/state",
                     "/node/n0", "/node/n9", "/node/n0/watcher/w", "/node/n0/watcher/",
                     "/node/n0/add", "/static/app.js", "/static/../../etc/passwd",
                     "//", "/%00", "/%ff", "/api/n0/", "*", "", "http://x/", "/?a=%zz"]),
    st.builds(lambda action: f"/api/n0/{action}", st.sampled_from(ACTIONS)),
    st.builds(lambda seg: "/node/n0/watcher/" + urllib.parse.quote(seg, safe=""),
              st.text(max_size=10)),
    st.text(max_size=20).map(lambda s: "/" + s.replace("\r", "").replace("\n", "")),
)
# Mostly what a browser sends, so most requests reach a handler; the rest is junk.
METHODS = st.one_of(st.sampled_from(["GET", "POST"]),
                    st.sampled_from(["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
                                     "CONNECT", "get", "", "G\x00T", "POST /x"]))
FIELD_NAMES = ["name", "cmd", "pid", "key", "value", "nb", "signum", "_xsrf", "username",
               "password", "numprocesses", "args", "start", ""]
fields = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6),
                         st.sampled_from(["w", "", "1", "-1", "numprocesses", "cmd", "args",
                                          "HUP", "9", "x" * 300, "é"]) | st.text(max_size=8),
                         max_size=4)
KNOWN_HEADERS = st.sampled_from([("Content-Type", "application/x-www-form-urlencoded"),
                     ("Content-Type", "multipart/form-data; boundary=zz"),
                     ("Content-Type", "application/json"), ("Content-Type", "\x00"),
                     ("Content-Length", "-1"), ("Content-Length", "99999999999999999999"),
                     ("Content-Length", "x"), ("Transfer-Encoding", "chunked"),
                     ("Cookie", "user=garbage; _xsrf=2|zz|yy|1"), ("Cookie", "\xff"),
                     ("X-Xsrftoken", "1"), ("Authorization", "Bearer"),
                     ("Authorization", "Basic Og=="), ("Accept-Encoding", "gzip"),
                     ("Host", ""), ("Host", "evil:1"), ("Expect", "100-continue"),
                     ("Last-Event-ID", "-1"), ("Range", "bytes=5-1")])
HEADERS = st.one_of(
    st.lists(KNOWN_HEADERS, max_size=2),
    st.lists(KNOWN_HEADERS | st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)),
             max_size=4))
AUTH = st.sampled_from([None, VIEWER, ADMIN, "x" * 24])
BODIES = st.one_of(st.none(), st.binary(max_size=60),
                   fields.map(lambda f: urllib.parse.urlencode(f).encode()))


def _defuse(path: str, body: bytes | None, auth: str | None) -> bytes | None:
    """An admin's ``add``/``set`` must not run what the fuzzer wrote."""
    if auth != ADMIN or body is None or not path.startswith("/api/"):
        return body
    form = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    safe = []
    for key, value in form:
        if key in ("cmd", "args"):
            value = "sleep 60"
        elif key == "key":
            value = "numprocesses"
        elif key == "value":
            value = "1"
        elif key == "pid":
            value = "4194305"  # above any pid_max: circusd refuses it
        safe.append((key, value))
    return urllib.parse.urlencode(safe).encode()


def _request(port: int, raw: bytes) -> int | None:
    """Send ``raw``; the response's status code, or None if the server dropped us."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            return None
        data = b""
        while b"\r\n" not in data:
            try:
                chunk = sock.recv(4096)
            except (ConnectionResetError, TimeoutError):
                return None
            if not chunk:
                return None
            data += chunk
    line = data.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1."), line
    return int(line.split()[1])


def _build(method: str, path: str, headers: list[tuple[str, str]], auth: str | None,
           body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if auth is not None:
        lines.append(f"Authorization: Bearer {auth}")
    if body is not None and not any(n.lower() == "content-length" for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(line.replace("\r", "").replace("\n", "") for line in lines)
    return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + (body or b"")


def test_arbitrary_http_requests(daemons: Any, webs: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"viewer {VIEWER}\nadmin {ADMIN}\n")
    worker = tmp_path / "idle.py"
    worker.write_text("import time\nwhile True:\n    time.sleep(1)\n")
    circusd = daemons(f"[watcher:w]\ncmd = {sys.executable} {worker}\nnumprocesses = 1\n"
                      "copy_env = True\ngraceful_timeout = 1\n")
    web = webs("--endpoint", circusd.endpoint, "--token-file", str(tokens))
    client = Client(web.base)
    statuses: dict[int | None, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(method=METHODS, path=PATHS, headers=HEADERS, auth=AUTH, body=BODIES)
    def check(method: str, path: str, headers: list[tuple[str, str]], auth: str | None,
              body: bytes | None) -> None:
        body = _defuse(path, body, auth)
        status = _request(web.port, _build(method, path, headers, auth, body))
        statuses[status] = statuses.get(status, 0) + 1
        assert status is None or status < 500, (method, path, headers, auth, body, status)
        assert web.proc.poll() is None, "circushttpd exited"
        state, _, _ = client.request("GET", "/api/state",
                                     headers={"Authorization": f"Bearer {VIEWER}"})
        assert state == 200

    check()
    log = web.log.read_text(errors="replace")
    crashes = log.count("Traceback") + log.count("Uncaught exception")
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
    print(f"\nhttp fuzz: {sum(statuses.values())} requests ({summary}), {crashes} crashes")
    assert crashes == 0, log[-4000:]
