"""The SSE stream: snapshots, stats, output tail, several circusd, a circusd going away."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import zmq

from .conftest import Client, EventStream, wait_for


def test_stream_carries_snapshots_and_live_stats(daemons: Any, webs: Any) -> None:
    circusd = daemons("")
    circusd.call("add", name="w", cmd="python3", args=["-u", str(circusd.dir / "worker.py")],
                 start=True, options={"numprocesses": 2, "working_dir": str(circusd.dir)})
    web = webs("--endpoint", circusd.endpoint)
    stream = EventStream(web.base)
    try:
        stream.first(lambda e, d: e == "hello" and d["role"] == "admin", what="hello")
        _, snap = stream.first(lambda e, d: e == "node" and len(
            d["watchers"].get("w", {}).get("pids", [])) == 2, what="w with two pids")
        pids = snap["watchers"]["w"]["pids"]
        # circusd-stats' numbers for each of those pids, within a few ticks.
        _, stats = stream.first(lambda e, d: e == "stats" and all(
            str(p) in d["pids"] for p in pids), what="stats of both pids")
        assert stats["pids"][str(pids[0])]["watcher"] == "w"
        assert isinstance(stats["watchers"]["w"]["cpu"], float)
        # A process spawned by someone else (circusctl) shows up without a reload.
        circusd.circusctl("incr", "w")
        stream.first(lambda e, d: e == "node" and len(
            d["watchers"].get("w", {}).get("pids", [])) == 3, timeout=5, what="a third pid")
    finally:
        stream.close()


def test_one_page_follows_two_circusd(daemons: Any, webs: Any) -> None:
    first = daemons("", name="a")
    second = daemons("", name="b")
    for daemon, name in ((first, "alpha"), (second, "beta")):
        daemon.call("add", name=name, cmd="python3", args=["-u", str(daemon.dir / "worker.py")],
                    start=True, options={"working_dir": str(daemon.dir)})
    web = webs("--endpoint", first.endpoint, "--endpoint", second.endpoint)
    stream = EventStream(web.base)
    try:
        stream.first(lambda e, d: e == "node" and d["id"] == "n0" and "alpha" in d["watchers"],
                     what="alpha on n0")
        stream.first(lambda e, d: e == "node" and d["id"] == "n1" and "beta" in d["watchers"],
                     what="beta on n1")
    finally:
        stream.close()


def test_a_circusd_that_goes_away_shows_down_then_up(daemons: Any, webs: Any,
                                                     tmp_path: Path) -> None:
    circusd = daemons("")
    web = webs("--endpoint", circusd.endpoint)
    stream = EventStream(web.base)
    try:
        stream.first(lambda e, d: e == "node" and d["state"] == "up", what="up")
        assert circusd.proc is not None
        circusd.call("quit")
        circusd.proc.wait(20)
        stream.first(lambda e, d: e == "node" and d["state"] == "down", timeout=20,
                     what="down")
        circusd.start("")
        stream.first(lambda e, d: e == "node" and d["state"] == "up"
                     and stream.events.index((e, d)) > 2, timeout=30, what="up again")
    finally:
        stream.close()


def test_tail_streams_output_published_on_the_output_topic(daemons: Any, webs: Any) -> None:
    """The documented wire form, from a real PUB socket (circusd does not publish it yet)."""
    circusd = daemons("")
    fake = f"ipc://{circusd.ipc}/fakepub"
    context: zmq.Context[Any] = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(fake)
    web = webs("--endpoint", f"{circusd.endpoint},pubsub={fake}")
    try:
        def send(data: str) -> None:
            pub.send_multipart([b"watcher.web.v2.output", json.dumps(
                {"pid": 4242, "stream": "stderr", "data": data, "time": time.time()}).encode()])

        follower = EventStream(web.base, "/api/events?tail=n0/web.v2")
        other = EventStream(web.base, "/api/events?tail=n0/else")
        try:
            def delivered() -> bool:
                send("early line\n")
                with follower.lock:
                    return any(e == "output" and d["lines"] for e, d in follower.events)
            wait_for(delivered, what="the SUB to connect")  # PUB drops until it is
            send("hello from the worker\n")
            _, msg = follower.first(lambda e, d: e == "output" and any(
                line["data"] == "hello from the worker\n" for line in d["lines"]),
                what="the line")
            line = msg["lines"][-1]
            assert (line["watcher"], line["pid"], line["stream"]) == ("web.v2", 4242, "stderr")
            # Only the tab following that watcher gets its output.
            assert not any(e == "output" and d["lines"] for e, d in other.events)
        finally:
            follower.close()
            other.close()
        # A tail opened later starts with the lines kept so far.
        late = EventStream(web.base, "/api/events?tail=n0/web.v2")
        try:
            _, first_batch = late.first(lambda e, d: e == "output", what="the backlog")
            assert "hello from the worker\n" in [line["data"] for line in first_batch["lines"]]
        finally:
            late.close()
    finally:
        pub.close()
        context.term()


def test_real_worker_output_published_by_circusd(daemons: Any, webs: Any) -> None:
    """End to end: circusd publishes a real worker's lines (publish_output); the tab follows."""
    circusd = daemons("")
    circusd.call("add", name="w", cmd="python3", args=["-u", str(circusd.dir / "worker.py")],
                 start=True, options={"working_dir": str(circusd.dir), "publish_output": True,
                                      "graceful_timeout": 2})
    web = webs("--endpoint", circusd.endpoint)
    stream = EventStream(web.base, "/api/events?tail=n0/w")
    try:
        [pid] = wait_for(lambda: circusd.pids("w"), what="the worker")
        _, msg = stream.first(lambda e, d: e == "output" and any(
            " line " in line["data"] for line in d["lines"]), what="a worker line")
        line = next(line for line in msg["lines"] if " line " in line["data"])
        assert (line["watcher"], line["pid"], line["stream"]) == ("w", pid, "stdout")
        assert line["data"].startswith(f"{pid} line ") and line["data"].endswith("\n")
    finally:
        stream.close()


def test_a_tail_starts_with_lines_printed_before_the_console_started(daemons: Any,
                                                                      webs: Any) -> None:
    """The backlog comes from circusd's ``tail`` command, then the topic follows on."""
    circusd = daemons("")
    circusd.call("add", name="w", cmd="python3", args=["-u", str(circusd.dir / "worker.py")],
                 start=True, options={"working_dir": str(circusd.dir), "publish_output": True,
                                      "graceful_timeout": 2})
    [pid] = wait_for(lambda: circusd.pids("w"), what="the worker")
    # Lines 1 and 2 printed (half a second apart) before circushttpd exists.
    wait_for(lambda: len(circusd.call("tail", name="w", lines=5).get("lines", [])) >= 2,
             what="two lines in circusd's buffer")
    web = webs("--endpoint", circusd.endpoint)
    wait_for(lambda: Client(web.base).state()["nodes"][0]["state"] == "up",
             what="the console to reach circusd")
    stream = EventStream(web.base, "/api/events?tail=n0/w")
    try:
        _, backlog = stream.first(lambda e, d: e == "output", what="the backlog")
        data = [line["data"] for line in backlog["lines"]]
        assert data[:2] == [f"{pid} line 1\n", f"{pid} line 2\n"], data
        assert all(line["watcher"] == "w" and line["pid"] == pid for line in backlog["lines"])
        # Then live lines, each once, numbered on from the backlog.
        last = int(data[-1].split()[2])

        def numbers() -> list[int]:
            return [int(line["data"].split()[2]) for e, d in list(stream.events)
                    if e == "output" for line in d["lines"]]

        wait_for(lambda: max(numbers()) >= last + 2, what="two live lines")
        seen = numbers()
        assert seen == list(range(1, len(seen) + 1)), seen
    finally:
        stream.close()
