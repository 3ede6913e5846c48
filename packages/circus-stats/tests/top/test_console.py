"""circus-top end to end: a real process in a real pty, fed by a real PUB socket."""

from __future__ import annotations

import re

from circus.top import waiting_message

from .conftest import (
    TopInPty,
    aggregate_message,
    process_message,
    socket_message,
    sockets_total_message,
)

STATS = [
    process_message("circus", 500, cpu=0.3, name="circusd"),
    process_message("web", 4101, cpu=5.0, mem=9.0, rss="12.00M"),
    process_message("web", 4102, cpu=45.0, mem=2.0, rss="30.00M"),
    aggregate_message("web", [4101, 4102], 25.0, 11.0, 65.0),
    process_message("queue.workers", 4201, cpu=1.0),
    socket_message(5, "127.0.0.1:8080", 17),
    sockets_total_message(["127.0.0.1:8080"], 17),
]


def web_order(text: str) -> list[str]:
    """The pids of the web table, top to bottom (empty while it is not drawn yet)."""
    if "\nweb" not in text:
        return []
    table = text.split("\nweb")[1].split("(all)")[0]
    return re.findall(r"^  (410\d) ", table, re.MULTILINE)


def test_waits_then_shows_watchers_pids_and_sockets(top, publisher):
    publisher.messages = []
    console = top()
    console.wait_text(waiting_message(publisher.endpoint))
    publisher.messages = STATS
    text = console.wait_for(lambda t: "queue.workers" in t and "(total)" in t)
    for needle in ("circus", "circusd", "500", "web", "4101", "4102", "4201", "127.0.0.1:8080"):
        assert needle in text
    assert waiting_message(publisher.endpoint) not in text
    assert web_order(text) == ["4102", "4101"]  # busiest first
    assert not console.terminal_restored()
    console.press(b"q")
    assert console.wait_exit() == 0
    assert console.terminal_restored()


def test_s_changes_the_sort_column_and_the_row_order(top, publisher):
    publisher.messages = STATS
    console = top()
    console.wait_for(lambda t: "sort: CPU desc" in t and web_order(t) == ["4102", "4101"])
    console.press(b"s")
    console.wait_for(lambda t: "sort: MEMORY desc" in t and web_order(t) == ["4101", "4102"])
    console.press(b"q")
    assert console.wait_exit() == 0


def test_slash_filters_watchers_by_name(top, publisher):
    publisher.messages = STATS
    console = top()
    console.wait_text("queue.workers")
    console.press(b"/que")
    console.wait_text("filter: que")  # the prompt on the bottom line
    console.press(b"\r")
    text = console.wait_for(
        lambda t: "filter: que" in t.splitlines()[0] and "\nweb" not in t and "4201" in t)
    assert "127.0.0.1:8080" not in text
    console.press(b"q")
    assert console.wait_exit() == 0


def test_processes_that_stop_being_published_disappear(top, publisher):
    publisher.messages = STATS
    console = top("--process-timeout", "0.5")
    console.wait_text("4201")
    publisher.messages = [m for m in STATS if not m[0].startswith(b"stat.queue")]
    console.wait_for(lambda t: "4201" not in t and "4101" in t)
    console.press(b"q")
    assert console.wait_exit() == 0


def test_ctrl_c_quits_cleanly_and_restores_the_terminal(top, publisher):
    publisher.messages = STATS
    console = top()
    console.wait_text("4101")
    console.press(b"\x03")
    assert console.wait_exit() == 0
    assert console.terminal_restored()


def test_a_small_terminal_does_not_crash_and_resizing_redraws(top, publisher):
    publisher.messages = STATS
    console = top(columns=20, lines=4)
    console.wait_text("circus-top")
    console.press(b"s/x\r")
    console.wait_text("no watcher matches")
    assert console.proc.poll() is None
    console.press(b"/\r")
    console.resize(120, 40)
    console.wait_for(lambda t: "4201" in t and "127.0.0.1:8080" in t and "sort: MEMORY" in t)
    console.press(b"q")
    assert console.wait_exit() == 0


def test_an_endpoint_nobody_publishes_on_shows_the_waiting_message(short_dir, no_children):
    endpoint = f"ipc://{short_dir}/missing.sock"
    console = TopInPty(["--endpoint", endpoint], None)
    try:
        console.wait_text(waiting_message(endpoint))
        console.press(b"q")
        assert console.wait_exit() == 0
    finally:
        console.close()


def test_an_unknown_terminal_type_fails_in_one_line(short_dir, no_children):
    console = TopInPty(["--endpoint", f"ipc://{short_dir}/s.sock"], None, term="no-such-term")
    try:
        assert console.wait_exit() == 1
        output = bytes(console.raw).decode()
        assert output.startswith("circus-top: error: cannot drive this terminal")
        assert output.count("\n") == 1
        assert "Traceback" not in output
    finally:
        console.close()


def test_closing_the_terminal_ends_circus_top(top, publisher):
    publisher.messages = STATS
    console = top()
    console.wait_text("4101")
    console.hang_up()
    console.proc.wait(timeout=10)
    assert console.proc.returncode == 0
