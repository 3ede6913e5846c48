"""``[circus] httpd = True``: circusd runs the web console on its own socket, as upstream did."""

from __future__ import annotations

import urllib.error
import urllib.request

from _circus_run import CircusRun, wait_for, watcher_section
from conftest import free_port


def _page(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def test_httpd_serves_the_console_for_this_circusd(circus_run: CircusRun) -> None:
    port = free_port()
    config, endpoint, pubsub = circus_run.config(
        "ours", watcher_section("w", circus_run.token),
        circus_extra=f"httpd = true\nhttpd_host = 127.0.0.1\nhttpd_port = {port}\n")
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    daemon.wait_pids("circushttpd", 1, timeout=30)
    status, _body = wait_for(lambda: _page(f"http://127.0.0.1:{port}/api/state"),
                            "circushttpd to answer", timeout=30)
    assert status == 200
    # Loopback without authentication: the console shows this circusd's watchers.
    wait_for(lambda: '"w"' in (_page(f"http://127.0.0.1:{port}/api/state") or (0, ""))[1],
             "the watcher on the console")
    assert "Traceback" not in daemon.log_text()
