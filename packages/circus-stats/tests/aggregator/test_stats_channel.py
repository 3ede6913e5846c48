"""What a stats subscriber sees from circusd-stats run by a real circusd."""

from __future__ import annotations

import os
import socket

from .conftest import Harness, wait_for

INFO_KEYS = {"pid", "cmdline", "username", "nice", "mem_info1", "mem_info2", "cpu", "mem",
             "ctime", "create_time", "age", "children", "subtopic", "name"}


def sockets_ini(tmp: str) -> str:
    return ("[socket:web]\nhost = 127.0.0.1\nport = 0\n\n"
            f"[socket:local]\npath = {tmp}/local.sock\n\n")


def test_every_topic_carries_upstreams_payload(harness: Harness) -> None:
    sub = harness.sub()
    harness.start_circusd("[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 2\n\n"
                          + sockets_ini(str(harness.ipc)) + harness.stats_watcher())
    sleepers = set(harness.call("list", name="sleeper")["pids"])
    circusd_pid = harness.call("dstats")["info"]["pid"]
    stats_pid = harness.call("list", name="circusd-stats")["pids"][0]
    sockets = {s["fd"]: s for s in harness.call("listsockets")["sockets"]}

    def full_tick() -> dict[str, dict[str, object]] | None:
        tick = sub.tick()
        return tick if {f"stat.sleeper.{p}" for p in sleepers} <= set(tick) else None

    tick = wait_for(full_tick, 15, "a tick with both sleepers")

    for pid in sleepers:
        info = tick[f"stat.sleeper.{pid}"]
        # health: our circusd reports readiness (ready from the spawn: no check).
        assert set(info) == INFO_KEYS | {"health"} and info["health"] == "ready"
        assert (info["pid"], info["subtopic"], info["name"]) == (pid, pid, None)
        assert info["cmdline"] == "sleep" and info["children"] == []
        assert isinstance(info["cpu"], float) and info["ctime"].count(":") == 1
        assert info["mem_info1"][-1] in "BKMG" and info["age"] >= 0
    aggregate = tick["stat.sleeper"]
    assert set(aggregate) == {"pid", "cpu", "mem", "age"} and set(aggregate["pid"]) == sleepers
    assert tick[f"stat.circus.{circusd_pid}"]["name"] == "circusd"
    assert tick[f"stat.circus.{stats_pid}"]["name"] == "circusd-stats"
    assert set(tick["stat.circus"]["pid"]) == {circusd_pid, stats_pid}
    assert "stat.circusd-stats" not in tick  # reported in the circus group only
    for fd, entry in sockets.items():
        message = tick[f"stat.sockets.{fd}"]
        assert message == {"fd": fd, "subtopic": fd, "reads": message["reads"],
                           "address": entry.get("path") or f"{entry['host']}:{entry['port']}"}
    assert set(tick["stat.sockets"]) == {"addresses", "reads"}
    assert len(tick["stat.sockets"]["addresses"]) == 2


def test_socket_hits_count_real_connections(harness: Harness) -> None:
    sub = harness.sub(b"stat.sockets")
    harness.start_circusd(sockets_ini(str(harness.ipc)) + harness.stats_watcher())
    web = next(s for s in harness.call("listsockets")["sockets"] if s["name"] == "web")
    sub.until(lambda t, _: t == "stat.sockets", what="the sockets report")

    def connect_and_count() -> bool:
        with socket.create_connection((web["host"], web["port"])):
            pass  # nobody accepts: the connection waits in the backlog
        _, payload = sub.until(lambda t, _: t == f"stat.sockets.{web['fd']}")
        return int(payload["reads"]) > 0

    wait_for(connect_and_count, 10, "a hit on the web socket")
    _, total = sub.until(lambda t, p: t == "stat.sockets" and p["reads"] == 0,
                         what="the counter reset at the next tick")
    assert f"{web['host']}:{web['port']}" in total["addresses"]


def test_hits_not_counted_without_the_inherited_fd(harness: Harness) -> None:
    harness.start_circusd(sockets_ini(str(harness.ipc)))
    harness.start_stats("--log-output", str(harness.tmp_path / "stats.log"))
    web = next(s for s in harness.call("listsockets")["sockets"] if s["name"] == "web")
    sub = harness.sub(b"stat.sockets")
    log = harness.tmp_path / "stats.log"
    wait_for(lambda: log.exists() and "not counting hits on socket web" in log.read_text(),
             10, "the log line explaining why")
    for _ in range(3):
        with socket.create_connection((web["host"], web["port"])):
            pass
        _, payload = sub.until(lambda t, _: t == f"stat.sockets.{web['fd']}")
        assert payload["reads"] == 0


def test_pids_follow_incr_decr_and_deaths(harness: Harness) -> None:
    sub = harness.sub(b"stat.sleeper")
    harness.start_circusd("[watcher:sleeper]\ncmd = sleep 600\nnumprocesses = 1\n\n"
                          + harness.stats_watcher("--interval", "0.2"))

    def published() -> set[int]:
        return set(sub.until(lambda t, _: t == "stat.sleeper")[1]["pid"])

    first = set(harness.call("list", name="sleeper")["pids"])
    wait_for(lambda: published() == first, 10, "the first pid")
    harness.call("incr", name="sleeper", nb=2, waiting=True)
    three = set(harness.call("list", name="sleeper")["pids"])
    assert len(three) == 3
    wait_for(lambda: published() == three, 10, "the incr'd pids")
    harness.call("decr", name="sleeper", waiting=True)
    two = set(harness.call("list", name="sleeper")["pids"])
    wait_for(lambda: published() == two, 10, "the decr'd pid gone")
    victim = min(two)
    os.kill(victim, 9)
    wait_for(lambda: victim not in published() and len(published()) == 2, 10,
             "the killed pid replaced")
