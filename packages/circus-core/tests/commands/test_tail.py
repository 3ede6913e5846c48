"""``publish_output`` and ``tail``: each output line on ``watcher.<name>.output``, the last N kept.

Real processes write through real pipes; the event channel is a real PUB.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from circus._watching.tail import TAIL_BYTES, TAIL_LINES, OutputTail, split_lines
from circus.watcher import Watcher
from conftest import apoll, python_cmd

from .conftest import fields

# Prints a numbered line on stdout and stderr every 50 ms, flushing each.
CHATTY = python_cmd(
    "import sys, time\n"
    "i = 0\n"
    "while True:\n"
    "    print('out', i, flush=True)\n"
    "    print('err', i, file=sys.stderr, flush=True)\n"
    "    i += 1\n"
    "    time.sleep(0.05)\n"
)


def _outputs(harness: Any, name: str) -> list[dict[str, Any]]:
    return [p for t, p in harness.events if t == f"watcher.{name}.output"]


async def test_each_line_is_published_with_pid_stream_data_time(make_arbiter: Any) -> None:
    # No stream configured: publish_output alone gives the children pipes.
    watcher = Watcher("chat", CHATTY, publish_output=True, graceful_timeout=2)
    harness = await make_arbiter(watcher)
    await apoll(lambda: {p["stream"] for p in _outputs(harness, "chat")} == {"stdout", "stderr"}
                and len(_outputs(harness, "chat")) >= 6)
    [pid] = watcher.pids
    lines = _outputs(harness, "chat")
    for payload in lines:
        assert set(payload) == {"pid", "stream", "data", "time"}
        assert payload["pid"] == pid and isinstance(payload["time"], float)
        assert payload["data"].endswith("\n") and payload["data"].count("\n") == 1
    outs = [p["data"] for p in lines if p["stream"] == "stdout"]
    assert outs[:3] == ["out 0\n", "out 1\n", "out 2\n"]
    errs = [p["data"] for p in lines if p["stream"] == "stderr"]
    assert errs[:3] == ["err 0\n", "err 1\n", "err 2\n"]


async def test_tail_answers_the_last_lines_oldest_first(make_arbiter: Any, ctl: Any) -> None:
    watcher = Watcher("chat", CHATTY, publish_output=True, graceful_timeout=2)
    harness = await make_arbiter(watcher)
    send = ctl(harness)
    await apoll(lambda: len(_outputs(harness, "chat")) >= 10)
    reply = await send("tail", name="chat", lines=4)
    assert reply["status"] == "ok" and set(fields(reply)) == {"lines"}
    got = reply["lines"]
    assert len(got) == 4
    published = _outputs(harness, "chat")
    # The same payloads as the topic, in the same order, ending at the newest so far.
    start = published.index(got[0])
    assert published[start:start + 4] == got
    default = await send("tail", name="chat")
    assert len(default["lines"]) == 10
    assert (await send("tail", name="chat", lines="2"))["status"] == "ok"
    assert (await send("tail", name="chat", lines=0))["lines"] == []


async def test_tail_refuses_bad_requests_with_a_clear_reason(make_arbiter: Any, ctl: Any) -> None:
    quiet = Watcher("quiet", CHATTY, graceful_timeout=2)
    harness = await make_arbiter(quiet)
    send = ctl(harness)
    off = await send("tail", name="quiet")
    assert (off["status"], off["errno"]) == ("error", 3)
    assert "publish_output" in off["reason"]
    unknown = await send("tail", name="nope")
    assert (unknown["status"], unknown["errno"]) == ("error", 3)
    assert "nope" in unknown["reason"]
    negative = await send("tail", name="quiet", lines=-1)
    assert "'lines'" in negative["reason"]
    wrong = await send("tail", name="quiet", lines="many")
    assert "'lines'" in wrong["reason"]
    # Off means nothing published either.
    assert not _outputs(harness, "quiet")


async def test_set_publish_output_on_a_running_watcher(make_arbiter: Any, ctl: Any) -> None:
    watcher = Watcher("chat", CHATTY, graceful_timeout=2)
    harness = await make_arbiter(watcher)
    send = ctl(harness)
    await apoll(lambda: len(watcher.pids) == 1)
    [old] = watcher.pids
    assert (await send("options", name="chat"))["options"]["publish_output"] is False
    reply = await send("set", name="chat", options={"publish_output": "true"}, waiting=True)
    assert reply["status"] == "ok"
    assert (await send("get", name="chat", keys=["publish_output"]))["options"] == {
        "publish_output": True}
    # The old process had no pipe: it was replaced by one whose output is read.
    await apoll(lambda: any(p["pid"] != old for p in _outputs(harness, "chat")))
    assert old not in watcher.pids
    assert ("watcher.chat.updated", "publish_output") in [
        (t, p.get("key")) for t, p in harness.events]


async def test_reloadconfig_turns_publish_output_on_in_place(config_arbiter: Any, ctl: Any,
                                                             tmp_path: Path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text("import time\nwhile True:\n    print('tick', flush=True)\n"
                      "    time.sleep(0.05)\n")
    section = f"[watcher:chat]\ncmd = {sys.executable} -u {script}\ngraceful_timeout = 2\n"
    harness = await config_arbiter(section)
    call = ctl(harness)
    watcher = harness.watcher("chat")
    await apoll(lambda: len(watcher.pids) == 1)
    (tmp_path / "circus.ini").write_text(section + "publish_output = true\n")
    assert (await call("reloadconfig", waiting=True))["status"] == "ok"
    # The same watcher, now with pipes: its new process's lines are published.
    assert harness.watcher("chat") is watcher and watcher.publish_output
    await apoll(lambda: _outputs(harness, "chat"))
    assert (await call("tail", name="chat", lines=1))["lines"][0]["data"] == "tick\n"


async def test_output_reaches_the_pub_socket(make_arbiter: Any) -> None:
    watcher = Watcher("chat", CHATTY, publish_output=True, graceful_timeout=2)
    harness = await make_arbiter(watcher, channels=True)
    context = zmq.asyncio.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"watcher.chat.output")
    sub.connect(harness.arbiter.pubsub_endpoint)
    try:
        deadline = time.monotonic() + 10
        while not await sub.poll(100):
            assert time.monotonic() < deadline, "no output event on the PUB socket"
        topic, body = await sub.recv_multipart()
        assert topic == b"watcher.chat.output"
        payload = json.loads(body)
        assert set(payload) == {"pid", "stream", "data", "time"}
        assert payload["pid"] == watcher.pids[0]
    finally:
        sub.close(linger=0)
        context.term()


def test_lines_are_cut_at_newlines_and_invalid_utf8_is_replaced() -> None:
    assert split_lines(b"a\nb\n") == [b"a\n", b"b\n"]
    assert split_lines(b"a\nlast words") == [b"a\n", b"last words"]
    assert split_lines(b"") == []
    published: list[dict[str, Any]] = []
    tail = OutputTail(lambda line: published.append(dict(line)))
    tail.add({"pid": 7, "name": "stderr", "data": b"caf\xe9\n"})
    [line] = tail.last(5)
    assert line["data"] == "caf\ufffd\n" and line["stream"] == "stderr" and line["pid"] == 7
    assert published == [dict(line)]


def test_the_ring_buffer_is_bounded_in_lines_and_bytes() -> None:
    tail = OutputTail(lambda line: None)
    tail.add({"pid": 1, "name": "stdout",
              "data": b"".join(b"%d\n" % i for i in range(TAIL_LINES + 50))})
    kept = tail.last(TAIL_LINES * 2)
    assert len(kept) == TAIL_LINES
    assert kept[0]["data"] == "50\n" and kept[-1]["data"] == f"{TAIL_LINES + 49}\n"
    big = b"x" * (TAIL_BYTES // 4 - 1) + b"\n"
    for _ in range(6):
        tail.add({"pid": 1, "name": "stdout", "data": big})
    kept = tail.last(TAIL_LINES)
    assert sum(len(line["data"]) for line in kept) <= TAIL_BYTES
    assert len(kept) == 4 and all(line["data"] == big.decode() for line in kept)
