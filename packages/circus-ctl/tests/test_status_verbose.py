"""``status --verbose`` asks for the slots that back off, and prints them under their watcher."""

from __future__ import annotations

from circus.ctl._main import main

SLOT = {"wid": 3, "quick_exits": 4, "spawn_failures": 0, "delay": 3.8, "retry_in": 2.14}
FAILED = {"wid": 1, "quick_exits": 0, "spawn_failures": 2, "delay": 0.9, "retry_in": 0.5}


def test_plain_status_sends_upstream_properties_only(daemon, capsys):
    daemon.replies["status"] = {"statuses": {"web": "active"}}
    assert main(["--endpoint", daemon.endpoint, "status"]) == 0
    assert daemon.last()["properties"] == {}
    assert capsys.readouterr().out == "web: active\n"


def test_verbose_lists_backing_off_slots_under_their_watcher(daemon, capsys):
    daemon.replies["status"] = {"statuses": {"web": "active", "db": "active"},
                                "backoff": {"web": [SLOT, FAILED]}}
    assert main(["--endpoint", daemon.endpoint, "status", "--verbose"]) == 0
    assert daemon.last()["properties"] == {"verbose": True}
    assert capsys.readouterr().out == (
        "db: active\n"
        "web: active\n"
        "  slot 3: backing off after 4 quick exits in a row; respawn in 2.1s\n"
        "  slot 1: backing off after 2 failed spawns in a row; respawn in 0.5s\n"
    )


def test_verbose_for_one_watcher(daemon, capsys):
    daemon.replies["status"] = {"status": "active", "backoff": {"web": [SLOT]}}
    assert main(["--endpoint", daemon.endpoint, "status", "web", "--verbose"]) == 0
    assert daemon.last()["properties"] == {"name": "web", "verbose": True}
    assert capsys.readouterr().out == (
        "active\n  slot 3: backing off after 4 quick exits in a row; respawn in 2.1s\n")


def test_verbose_against_a_daemon_without_backoff_info(daemon, capsys):
    # Upstream's circusd ignores the property and answers as usual.
    daemon.replies["status"] = {"statuses": {"web": "active"}}
    assert main(["--endpoint", daemon.endpoint, "status", "--verbose"]) == 0
    assert capsys.readouterr().out == "web: active\n"


FULL = {"dropped_bytes": 7600000, "dropped_chunks": 793, "error": "No space left on device"}
BACK = {"dropped_bytes": 1200, "dropped_chunks": 3, "error": None}


def test_verbose_shows_output_a_full_disk_dropped(daemon, capsys):
    daemon.replies["status"] = {"statuses": {"web": "active", "db": "active"},
                                "output_dropped": {"web": {"stdout": FULL, "stderr": BACK}}}
    assert main(["--endpoint", daemon.endpoint, "status", "--verbose"]) == 0
    assert capsys.readouterr().out == (
        "db: active\n"
        "web: active\n"
        "  stderr: 3 chunks (1200 bytes) of output dropped; writing again\n"
        "  stdout: 793 chunks (7600000 bytes) of output dropped;"
        " writes failing: No space left on device\n"
    )


def test_verbose_for_one_watcher_shows_its_dropped_output(daemon, capsys):
    daemon.replies["status"] = {"status": "active", "output_dropped": {"web": {"stdout": FULL}}}
    assert main(["--endpoint", daemon.endpoint, "status", "web", "--verbose"]) == 0
    assert capsys.readouterr().out == (
        "active\n  stdout: 793 chunks (7600000 bytes) of output dropped;"
        " writes failing: No space left on device\n")
