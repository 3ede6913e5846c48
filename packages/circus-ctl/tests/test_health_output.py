"""Readiness in ``status --verbose`` and ``list NAME``, as our circusd reports it.

A daemon without the ``health`` keys (upstream's, or a watcher without a
``check`` for ``list``) gets exactly the output it got before.
"""

from __future__ import annotations

from circus.ctl._console import render_list, render_status
from circus.ctl._main import main
from circus.ctl._style import Style

SLOT = {"wid": 3, "quick_exits": 4, "spawn_failures": 0, "delay": 3.8, "retry_in": 2.14}


def test_verbose_status_prints_each_process_readiness_under_its_watcher(daemon, capsys):
    daemon.replies["status"] = {
        "statuses": {"web": "active", "db": "active", "idle": "stopped"},
        "backoff": {"web": [SLOT]},
        "health": {"web": {"987": "unhealthy", "1001": "starting", "12": "ready"},
                   "db": {"55": "ready"}, "idle": {}}}
    assert main(["--endpoint", daemon.endpoint, "status", "--verbose"]) == 0
    assert daemon.last()["properties"] == {"verbose": True}
    assert capsys.readouterr().out == (
        "db: active\n"
        "  pid 55: ready\n"
        "idle: stopped\n"
        "web: active\n"
        "  pid 12: ready\n"
        "  pid 987: unhealthy\n"
        "  pid 1001: starting\n"
        "  slot 3: backing off after 4 quick exits in a row; respawn in 2.1s\n")


def test_verbose_status_of_one_watcher(daemon, capsys):
    daemon.replies["status"] = {"status": "active", "backoff": {"web": [SLOT]},
                                "health": {"8": "starting", "7": "ready"}}
    assert main(["--endpoint", daemon.endpoint, "status", "web", "--verbose"]) == 0
    assert capsys.readouterr().out == (
        "active\n  pid 7: ready\n  pid 8: starting\n"
        "  slot 3: backing off after 4 quick exits in a row; respawn in 2.1s\n")


def test_list_of_a_checked_watcher_puts_the_state_beside_each_pid(daemon, capsys):
    daemon.replies["list"] = {"pids": [21570, 21571, 21572],
                              "health": {"21570": "ready", "21571": "starting",
                                         "21572": "unhealthy"}}
    assert main(["--endpoint", daemon.endpoint, "list", "web"]) == 0
    assert daemon.last()["properties"] == {"name": "web"}
    out = capsys.readouterr().out
    assert out == "21570:ready,21571:starting,21572:unhealthy\n"
    # The documented way to parse it.
    assert dict(item.split(":") for item in out.strip().split(",")) == {
        "21570": "ready", "21571": "starting", "21572": "unhealthy"}


def test_list_names_a_pid_missing_from_health_unknown(daemon, capsys):
    daemon.replies["list"] = {"pids": [5, 6], "health": {"5": "ready"}}
    assert main(["--endpoint", daemon.endpoint, "list", "web"]) == 0
    assert capsys.readouterr().out == "5:ready,6:unknown\n"


def test_plain_watcher_and_upstream_daemon_print_as_before(daemon, capsys):
    daemon.replies["list"] = {"pids": [21570, 21571]}
    daemon.replies["status"] = {"statuses": {"web": "active"}}
    assert main(["--endpoint", daemon.endpoint, "list", "web"]) == 0
    assert main(["--endpoint", daemon.endpoint, "status"]) == 0
    assert main(["--endpoint", daemon.endpoint, "status", "--verbose"]) == 0
    assert capsys.readouterr().out == "21570,21571\nweb: active\nweb: active\n"


def test_on_a_terminal_health_is_coloured():
    style = Style(tty=True, colour=True)
    text = render_list({"pids": [1, 22], "health": {"1": "ready", "22": "unhealthy"}}, style)
    lines = text.splitlines()
    assert "PID" in lines[0] and "HEALTH" in lines[0]
    assert lines[1].startswith("1    \033[32mready\033[0m")
    assert lines[2].startswith("22   \033[31munhealthy\033[0m")
    status = render_status({"statuses": {"web": "active"}, "health": {"web": {"3": "starting"}}},
                           style)
    assert status.splitlines() == ["web: \033[32mactive\033[0m", "  pid 3: \033[33mstarting\033[0m"]


def test_malformed_health_is_ignored(daemon, capsys):
    daemon.replies["status"] = {"statuses": {"web": "active"}, "health": {"web": ["x"]}}
    daemon.replies["list"] = {"pids": [1], "health": "nonsense"}
    assert main(["--endpoint", daemon.endpoint, "status", "--verbose"]) == 0
    assert main(["--endpoint", daemon.endpoint, "list", "web"]) == 0
    assert capsys.readouterr().out == "web: active\n1\n"
