"""The model: what each message changes, malformed input, and expiry on a fake clock."""

from __future__ import annotations

import json

import pytest
from circus.top import StatsModel

from .conftest import (
    aggregate_message,
    process_message,
    socket_message,
    sockets_total_message,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def model(clock: FakeClock) -> StatsModel:
    return StatsModel(process_timeout=3.0, clock=clock)


def test_a_process_message_records_its_numbers(model):
    assert model.ingest(process_message("web", 42, cpu=12.5, mem=3.0, rss="25.34M", age=90))
    stat = model.processes["web"][42]
    assert (stat.pid, stat.cpu, stat.mem, stat.age) == (42, 12.5, 3.0, 90)
    assert stat.rss == int(25.34 * 1024**2)


def test_dotted_watcher_names_stay_whole(model):
    model.ingest(process_message("api.v2", 7))
    model.ingest(aggregate_message("api.v2", [7], 1.0, 2.0, 3.0))
    assert set(model.processes) == {"api.v2"}
    assert set(model.aggregates) == {"api.v2"}


def test_not_available_values_are_kept_as_unknown(model):
    model.ingest(process_message("web", 1, cpu="N/A", mem="N/A", rss="N/A", age="N/A"))
    model.ingest(aggregate_message("web", [1], "N/A", "N/A", "N/A"))
    stat, aggregate = model.processes["web"][1], model.aggregates["web"]
    assert (stat.cpu, stat.mem, stat.rss, stat.age) == (None, None, None, None)
    assert (aggregate.cpu, aggregate.mem, aggregate.age) == (None, None, None)


def test_circus_processes_keep_their_names(model):
    model.ingest(process_message("circus", 10, name="circusd"))
    assert model.processes["circus"][10].name == "circusd"


def test_socket_messages_fill_the_sockets_table(model):
    model.ingest(socket_message(5, "127.0.0.1:8080", 12))
    model.ingest(sockets_total_message(["127.0.0.1:8080"], 12))
    assert model.sockets[5].address == "127.0.0.1:8080"
    assert model.sockets[5].reads == 12
    assert model.sockets_total is not None and model.sockets_total.reads == 12
    assert model.owners() == set()


@pytest.mark.parametrize(
    "frames",
    [
        [b"stat.web.1"],
        [b"stat.web.1", b"{}", b"extra"],
        [b"stat.web.1", b"{not json"],
        [b"stat.web.1", b"[1, 2]"],
        [b"\xff\xfe", b"{}"],
        [b"stat.web.1", b"\xff"],
        [b"watcher.web.spawn", json.dumps({"process_pid": 1}).encode()],
    ],
)
def test_malformed_messages_are_ignored(model, frames):
    assert model.ingest(frames) is False
    assert model.owners() == set()
    assert model.last_message_at is None


def test_entries_not_refreshed_within_the_timeout_disappear(model, clock):
    model.ingest(process_message("web", 1))
    model.ingest(process_message("web", 2))
    model.ingest(aggregate_message("web", [1, 2], 1.0, 1.0, 1.0))
    model.ingest(socket_message(5, "127.0.0.1:8080", 1))
    model.ingest(sockets_total_message(["127.0.0.1:8080"], 1))
    clock.now += 2.0
    model.ingest(process_message("web", 2))
    model.expire()
    assert set(model.processes["web"]) == {1, 2}
    clock.now += 1.5  # pid 1 and the rest are now 3.5 s old, pid 2 only 1.5 s
    model.expire()
    assert set(model.processes["web"]) == {2}
    assert model.aggregates == {}
    assert model.sockets == {}
    assert model.sockets_total is None
    clock.now += 3.5
    model.expire()
    assert model.processes == {}


def test_silence_is_measured_from_the_last_good_message(model, clock):
    assert model.silent_for() is None
    model.ingest(process_message("web", 1))
    clock.now += 2.5
    model.ingest([b"stat.web.1", b"garbage"])
    assert model.silent_for() == 2.5
