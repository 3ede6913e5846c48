"""The renderer: tables, sorting, filtering, aggregate rows, sockets, waiting, tiny screens."""

from __future__ import annotations

import re

import pytest
from circus.top import SortColumn, StatsModel, Style, ViewState, render, waiting_message

from .conftest import (
    aggregate_message,
    process_message,
    socket_message,
    sockets_total_message,
)

ENDPOINT = "ipc:///tmp/stats.sock"


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def make_model(*messages, clock=None) -> StatsModel:
    model = StatsModel(clock=clock or FakeClock())
    for frames in messages:
        assert model.ingest(frames)
    return model


def screen(model, view=None, height=40, width=100) -> list[str]:
    lines = render(model, view or ViewState(), height, width, ENDPOINT, "12:00:00")
    assert len(lines) == height
    assert all(len(line.text) <= width for line in lines)
    return [line.text for line in lines]


def pids_in_order(lines: list[str], title: str) -> list[int]:
    """The pid column of ``title``'s table, top to bottom."""
    start = lines.index(title) + 2
    pids = []
    for line in lines[start:]:
        match = re.match(r"  (\d+) ", line)
        if match is None:
            break
        pids.append(int(match.group(1)))
    return pids


WORKERS = [
    # pid, cpu, mem, rss, age
    process_message("web", 11, cpu=5.0, mem=9.0, rss="1.00M", age=10.0),
    process_message("web", 12, cpu=50.0, mem=1.0, rss="3.00M", age=30.0),
    process_message("web", 10, cpu=20.0, mem=3.0, rss="20.00M", age=20.0),
    process_message("web", 13, cpu="N/A", mem="N/A", rss="N/A", age="N/A"),
]


@pytest.mark.parametrize(
    ("column", "order"),
    [
        (SortColumn.CPU, [12, 10, 11, 13]),
        (SortColumn.MEMORY, [11, 10, 12, 13]),
        (SortColumn.RSS, [10, 12, 11, 13]),
        (SortColumn.AGE, [12, 10, 11, 13]),
        (SortColumn.PID, [10, 11, 12, 13]),
    ],
)
def test_rows_follow_the_sort_column_with_unknown_values_last(column, order):
    lines = screen(make_model(*WORKERS), ViewState(sort=column))
    assert pids_in_order(lines, "web") == order
    direction = "asc" if column is SortColumn.PID else "desc"
    assert f"sort: {column.value} {direction}" in lines[0]


def test_default_sort_is_cpu_descending():
    assert pids_in_order(screen(make_model(*WORKERS)), "web") == [12, 10, 11, 13]


def test_each_row_shows_pid_cpu_memory_rss_and_age():
    lines = screen(make_model(process_message("web", 77, cpu=12.5, mem=3.25, rss="25.34M",
                                              age=3723.0)))
    heading = lines[lines.index("web") + 1].split()
    assert heading == ["PID", "CPU", "%", "MEMORY", "%", "RSS", "AGE"]
    assert lines[lines.index("web") + 2].split() == ["77", "12.5", "3.2", "25.34M", "1:02:03"]


def test_the_aggregate_row_uses_the_published_aggregate():
    model = make_model(process_message("web", 1, rss="1.00M"), process_message("web", 2,
                       rss="2.00M"), aggregate_message("web", [1, 2], 33.3, 7.5, 90061.0))
    lines = screen(model)
    total = lines[lines.index("web") + 4]
    assert total.split() == ["(all)", "33.3", "(avg)", "7.5", "(sum)", "3.00M", "(sum)",
                             "1d", "1h", "(max)"]


def test_without_an_aggregate_the_row_is_worked_out_from_the_processes():
    model = make_model(process_message("web", 1, cpu=10.0, mem=1.0, rss="1.00M", age=5.0),
                       process_message("web", 2, cpu=20.0, mem=2.0, rss="1.00M", age=70.0))
    total = screen(model)[screen(model).index("web") + 4]
    assert total.split() == ["(all)", "15.0", "(avg)", "3.0", "(sum)", "2.00M", "(sum)",
                             "1:10", "(max)"]


def test_unknown_inputs_make_the_aggregate_unknown():
    model = make_model(process_message("web", 1, cpu="N/A", rss="N/A"),
                       aggregate_message("web", [1], "N/A", 1.0, "N/A"))
    total = screen(model)[screen(model).index("web") + 3]
    assert total.split() == ["(all)", "N/A", "(avg)", "1.0", "(sum)", "N/A", "(sum)",
                             "N/A", "(max)"]


def test_circus_comes_first_with_process_names_and_stats_watchers_are_not_repeated():
    model = make_model(
        process_message("zeta", 30), process_message("alpha", 20),
        process_message("circus", 10, name="circusd"),
        process_message("circus", 11, name="circusd-stats"),
        process_message("circusd-stats", 11), process_message("circushttpd", 12),
    )
    lines = screen(model)
    titles = [line for line in lines if line and not line.startswith(" ")][1:-1]
    assert titles == ["circus", "alpha", "zeta"]
    assert lines[lines.index("circus") + 1].split()[-1] == "NAME"
    assert any(line.split()[0] == "10" and line.endswith("circusd") for line in lines)


def test_the_sockets_table_lists_addresses_hits_and_the_total():
    model = make_model(socket_message(6, "/tmp/app.sock", 4), socket_message(5,
                       "127.0.0.1:8080", 7), sockets_total_message([], 11))
    lines = screen(model)
    start = lines.index("sockets")
    assert lines[start + 1].split() == ["ADDRESS", "HITS"]
    assert [line.split() for line in lines[start + 2:start + 5]] == [
        ["/tmp/app.sock", "4"], ["127.0.0.1:8080", "7"], ["(total)", "11"]]


def test_the_filter_keeps_only_matching_watchers():
    model = make_model(process_message("web", 1), process_message("worker", 2),
                       process_message("api", 3), socket_message(5, "127.0.0.1:80", 0))
    lines = screen(model, ViewState(filter="W"))
    assert "web" in lines and "worker" in lines
    assert "api" not in lines and "sockets" not in lines
    assert "filter: W" in lines[0]


def test_a_filter_matching_nothing_says_so():
    lines = screen(make_model(process_message("web", 1)), ViewState(filter="nope"))
    assert "no watcher matches 'nope'" in "\n".join(lines)


def test_the_prompt_replaces_the_footer_while_typing():
    lines = render(make_model(), ViewState(prompt="we"), 10, 60, ENDPOINT, "12:00:00")
    assert (lines[-1].text, lines[-1].style) == ("filter: we", Style.PROMPT)
    assert lines[-1].text != screen(make_model(), height=10, width=60)[-1]


def test_waiting_message_before_anything_arrives_and_after_a_silence():
    clock = FakeClock()
    model = make_model(clock=clock)
    assert waiting_message(ENDPOINT) in screen(model)
    assert waiting_message(ENDPOINT) == (
        f"waiting for circusd-stats at {ENDPOINT} (is statsd = True?)")
    model.ingest(process_message("web", 1))
    assert waiting_message(ENDPOINT) not in screen(model)
    assert "web" in screen(model)
    clock.now += 3.5
    assert waiting_message(ENDPOINT) in screen(model)


def test_big_tables_share_the_screen_and_keep_their_aggregate_rows():
    messages = [process_message("big", pid, cpu=float(pid)) for pid in range(100, 150)]
    messages += [process_message("small", pid) for pid in (1, 2)]
    lines = screen(make_model(*messages), height=20)
    assert "small" in lines
    assert len(pids_in_order(lines, "small")) == 2
    big = next(line for line in lines if line.startswith("big"))
    shown = pids_in_order(lines, big)
    assert shown == list(range(149, 149 - len(shown), -1))
    assert big == f"big  ({len(shown)} of 50 shown)"
    assert sum(line.startswith("  (all)") for line in lines) == 2


@pytest.mark.parametrize(("height", "width"), [(0, 0), (1, 1), (1, 80), (2, 3), (3, 10),
                                               (5, 20), (40, 1)])
def test_tiny_screens_still_render_within_bounds(height, width):
    model = make_model(*WORKERS, socket_message(5, "127.0.0.1:8080", 3))
    lines = render(model, ViewState(prompt="a long filter text"), height, width, ENDPOINT, "now")
    assert len(lines) == (height if width > 0 else 0)
    assert all(len(line.text) <= width for line in lines)


def test_a_health_column_when_processes_report_readiness():
    model = make_model(
        process_message("web", 1, cpu=9.0, health="ready"),
        process_message("web", 2, cpu=5.0, health="starting"),
        process_message("web", 3, cpu=1.0, health="unhealthy"),
        process_message("web", 4, cpu=0.5, health="bogus"),
        process_message("plain", 5))
    lines = screen(model)
    web = lines.index("web")
    assert lines[web + 1].split()[-1] == "HEALTH"
    assert [line.split()[-1] for line in lines[web + 2:web + 5]] == [
        "ready", "starting", "unhealthy"]
    assert lines[web + 5].split()[0] == "4" and lines[web + 5].split()[-1] == "1:05"  # unknown
    assert lines[web + 6].endswith("(max)  1/4 ready")
    plain = lines.index("plain")  # no readiness reported: the table is as before
    assert lines[plain + 1].split()[-1] == "AGE"
    assert lines[plain + 3].endswith("(max)")
