"""The manual's "Running a WSGI application" recipe, with gunicorn from PyPI.

circusd binds the socket of examples/wsgi.ini and starts gunicorn with
``--bind fd://N``: the request below reaches the WSGI app through circus's
socket, and keeps doing so after the gunicorn processes are replaced.
"""

from __future__ import annotations

import http.client
import os
import shutil
from pathlib import Path

import psutil
import pytest
from _circus_run import BIN, CircusRun, check, wait_for
from conftest import free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_PORT = "port = 8081\n"


def _get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, (response.status, body)
        return body
    finally:
        conn.close()


def _served_by(port: int, path: str) -> int:
    """GET *path*; the pid of the gunicorn worker that answered."""
    body = _get(port, path)
    assert body.startswith(f"hello {path} from wsgi worker "), body
    return int(body.split()[-1])


def test_gunicorn_serves_on_the_socket_circus_bound(
        circus_run: CircusRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (BIN / "gunicorn").exists(), "gunicorn is missing: pip install -r requirements-dev.txt"
    # wsgi.ini runs `gunicorn` from PATH (it sets copy_env), as a user's shell would.
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    # A copy of the example on a free port; its working_dir (.) is the copy's.
    copy = tmp_path / "wsgi"
    copy.mkdir()
    shutil.copy(EXAMPLES / "wsgi_app.py", copy)
    example = (EXAMPLES / "wsgi.ini").read_text()
    assert example.count(EXAMPLE_PORT) == 1, "the example's [socket:web] port moved"
    port = free_port()
    (copy / "wsgi.ini").write_text(example.replace(EXAMPLE_PORT, f"port = {port}\n"))
    config, endpoint, pubsub = circus_run.config("main", "",
                                                 circus_extra=f"include = {copy / 'wsgi.ini'}")
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    first = daemon.wait_pids("wsgi", 2)

    listed = check(circus_run.ours_ctl(endpoint, "listsockets")).stdout
    assert f"socket 'web' at 127.0.0.1:{port}" in listed, listed

    def answered_by_a_worker_of(gunicorns: list[int]) -> bool:
        pid = _served_by(port, "/hello")
        try:
            return psutil.Process(pid).ppid() in gunicorns
        except psutil.Error:  # an old worker that answered, then stopped
            return False

    wait_for(lambda: answered_by_a_worker_of(first), "a request served by gunicorn")

    # New gunicorns take over the same socket.
    check(circus_run.ours_ctl(endpoint, "reload", "wsgi", "--waiting"))
    second = wait_for(lambda: (pids := daemon.pids("wsgi")) and len(pids) == 2
                      and not set(pids) & set(first) and pids, "two new gunicorn processes")
    wait_for(lambda: answered_by_a_worker_of(second), "a request served by the new gunicorns")
    assert "Traceback" not in daemon.log_text(), daemon.log_text()
