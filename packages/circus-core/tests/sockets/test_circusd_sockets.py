"""circusd with [socket:NAME] sections: addresses logged, an address in use fails cleanly."""

from __future__ import annotations

import socket
import sys
import textwrap
from typing import Any

from conftest import poll

from ._workers import serve_script


def _cmd(circusd: Any) -> str:
    script = circusd.write("serve.py", serve_script())
    return f"{sys.executable} {script} $(circus.sockets.web)"


def test_address_in_use_is_one_line_and_exit_1(circusd: Any) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        config = circusd.write("busy.ini", textwrap.dedent(f"""
            [watcher:w]
            cmd = {_cmd(circusd)}

            [socket:Web]
            host = 127.0.0.1
            port = {port}
        """))
        result = circusd.run(str(config))
    finally:
        holder.close()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'web'" in lines[0] and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_bound_address_is_logged_and_served(circusd: Any) -> None:
    config = circusd.write("ok.ini", textwrap.dedent(f"""
        [watcher:w]
        cmd = {_cmd(circusd)}

        [socket:web]
        host = 127.0.0.1
        port = 0
    """))
    daemon = circusd.start(str(config))
    log = poll(lambda: "socket web bound to 127.0.0.1:" in daemon.stderr() + daemon.stdout()
               and daemon.stderr() + daemon.stdout())
    port = int(log.split("socket web bound to 127.0.0.1:")[1].split()[0])
    daemon.wait_children(1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.settimeout(10)
        assert int(conn.recv(64)) in daemon.children()
    assert daemon.stop() == 0
