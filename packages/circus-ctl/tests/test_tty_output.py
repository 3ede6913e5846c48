"""On a terminal, status and list become aligned tables with colour (NO_COLOR respected)."""

from __future__ import annotations

import os
import pty
import subprocess

from circus.ctl._console import render_list, render_status
from circus.ctl._style import Style
from conftest import ctl_argv, ctl_env


def test_status_table_aligned_and_coloured():
    text = render_status({"statuses": {"web": "active", "longer-name": "stopped"}},
                         Style(tty=True, colour=True))
    lines = text.splitlines()
    assert "WATCHER" in lines[0] and "STATE" in lines[0]
    assert lines[1].startswith("longer-name  \033[31mstopped\033[0m")
    assert lines[2].startswith("web          \033[32mactive\033[0m")


def test_list_table_without_colour():
    text = render_list({"watchers": ["a", "bb"]}, Style(tty=True, colour=False))
    assert text == "WATCHER\na\nbb"
    assert "\033" not in text


def _run_on_pty(daemon, **env) -> tuple[int, str]:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(ctl_argv("--endpoint", daemon.endpoint, "status"),
                              stdout=follower, stderr=subprocess.PIPE, env=ctl_env(**env),
                              timeout=30)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return proc.returncode, b"".join(chunks).decode()
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_real_terminal_gets_colour_and_no_color_disables_it(daemon):
    daemon.replies["status"] = {"statuses": {"web": "active"}}
    code, out = _run_on_pty(daemon, TERM="xterm")
    assert code == 0
    assert "WATCHER" in out and "\033[32mactive" in out
    code, out = _run_on_pty(daemon, TERM="xterm", NO_COLOR="1")
    assert "WATCHER" in out and "\033[" not in out
