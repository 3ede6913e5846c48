"""Fuzzing circusd-stats' inputs: it never crashes and keeps publishing.

circusd-stats reads three things it does not control: the events circusd
publishes (its SUB), circusd's replies to ``list``/``status``/``dstats``/``listsockets``
(its DEALER), and the subscription frames its stats subscribers send (its
XPUB). The test plays circusd with a PUB and a ROUTER of its own and feeds
all three with generated frames; an XSUB sends the subscriptions. After
every few examples a plain SUB must still receive a whole tick, and at the
end circusd-stats still runs, logged no traceback and no failed tick, and
exits 0 on SIGTERM.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EVENT_EXAMPLES = 150
REPLY_EXAMPLES = 20
HEALTH_EVERY = 10

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(-2, 5),
    st.floats(allow_nan=False) | st.sampled_from([math.inf, -math.inf]),
    st.sampled_from(["web", "", "*", "\x00", "é", "1", "spawn", "/tmp", "host", "ok",
                     "error"]),
    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
# Pids that exist (ours), that do not, and values that are not pids at all.
pids = st.one_of(st.sampled_from([os.getpid(), 0, -1, 1, 2**31, 2**63, 2**64]), values)

EVENTS = ["spawn", "reap", "kill", "stop", "start", "add", "remove", "reload", "updated",
          "ready", "unhealthy", "", "x"]
topics = st.one_of(
    st.builds(lambda name, event: f"watcher.{name}.{event}".encode(),
              st.sampled_from(["web", "other", "", ".", "a.b", "é", "circusd-stats"]),
              st.sampled_from(EVENTS)),
    st.binary(max_size=20).map(lambda b: b"watcher." + b),
    st.binary(max_size=12))
payloads = st.one_of(
    st.fixed_dictionaries({}, optional={"process_pid": pids, "exit_code": values,
                                        "time": values, "process_id": values,
                                        "output": values, "failures": values,
                                        "key": st.one_of(st.just("check"), values)}).map(
        lambda d: json.dumps(d).encode()),
    values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=30))
events = st.one_of(st.tuples(topics, payloads).map(list),
                   st.lists(st.binary(max_size=12), max_size=4))

# A reply to circusd-stats' next request: the right shape with odd contents, or anything.
replies = st.one_of(
    st.fixed_dictionaries({"status": st.sampled_from(["ok", "error", "", 1])},
                          optional={"watchers": st.one_of(
                                        st.lists(st.sampled_from(["web", "other", ""]),
                                                 max_size=3), values),
                                    "pids": st.one_of(st.lists(pids, max_size=4), values),
                                    "health": st.one_of(st.dictionaries(
                                        st.one_of(st.just(str(os.getpid())), st.text(
                                            max_size=4)),
                                        st.one_of(st.sampled_from(
                                            ["starting", "ready", "unhealthy"]), values),
                                        max_size=3), values),
                                    "info": st.one_of(st.fixed_dictionaries({"pid": pids}),
                                                      values),
                                    "sockets": st.one_of(
                                        st.lists(st.fixed_dictionaries(
                                            {}, optional={"fd": pids, "name": values,
                                                          "path": values, "host": values,
                                                          "port": values}), max_size=3),
                                        values),
                                    "errno": values, "reason": values}),
    values, st.just("not json"))
KINDS = ["list", "list-name", "status", "dstats", "listsockets"]
subscriptions = st.lists(st.one_of(
    st.binary(max_size=12).map(lambda b: b"\x01" + b),
    st.binary(max_size=12).map(lambda b: b"\x00" + b),
    st.binary(max_size=12)), max_size=3)


def _good_reply(request: dict[str, Any]) -> dict[str, Any]:
    """What a healthy circusd with one watcher (this test's pid as its process) answers."""
    props = request.get("properties") or {}
    command = request.get("command")
    if command == "list":
        body: dict[str, Any] = {"pids": [os.getpid()]} if props.get("name") \
            else {"watchers": ["web"]}
    elif command == "dstats":
        body = {"info": {"pid": os.getpid()}}
    elif command == "listsockets":
        body = {"sockets": []}
    else:
        body = {}
    return {"status": "ok", "time": time.time(), "id": request.get("id"), **body}


class FakeCircusd:
    """The two endpoints circusd-stats talks to, bound by the test."""

    def __init__(self, context: zmq.Context[Any], endpoint: str, pubsub: str) -> None:
        self.router = context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(endpoint)
        self.pub = context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(pubsub)
        self.requests = 0
        self.fuzzed = 0

    def serve(self, seconds: float, fuzzed: dict[str, object] | None = None) -> None:
        """Answer requests for ``seconds``, or until every ``fuzzed`` reply was sent.

        ``fuzzed`` maps a request kind (``list``, ``list-name``, ``status``,
        ``dstats``, ``listsockets``) to the reply its next request gets; other requests get
        a healthy circusd's reply.
        """
        pending = dict(fuzzed or {})
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and (pending or fuzzed is None):
            if not self.router.poll(int(left * 1000) + 1):
                continue
            *route, body = self.router.recv_multipart()
            self.requests += 1
            try:
                request = json.loads(body)
            except ValueError:
                continue
            if not isinstance(request, dict):
                continue
            kind = str(request.get("command"))
            if kind == "list" and (request.get("properties") or {}).get("name"):
                kind = "list-name"
            if kind in pending:
                reply = pending.pop(kind)
                self.fuzzed += 1
                if isinstance(reply, dict):
                    reply = {**reply, "id": request.get("id")}
                frame = reply.encode() if reply == "not json" else json.dumps(reply).encode()
            else:
                frame = json.dumps(_good_reply(request)).encode()
            self.router.send_multipart([*route, frame])

    def close(self) -> None:
        self.router.close(0)
        self.pub.close(0)


def _health(fake: FakeCircusd, sub: zmq.Socket[bytes], proc: Any, timeout: float = 15) -> None:
    """circusd-stats is alive and publishes a whole tick (ends with ``stat.sockets``)."""
    while sub.poll(0):
        sub.recv_multipart()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "circusd-stats exited"
        fake.serve(0.05)
        if sub.poll(0):
            topic, body = sub.recv_multipart()
            assert isinstance(json.loads(body), dict)
            if topic == b"stat.sockets":
                return
    raise AssertionError("circusd-stats stopped publishing ticks")


class Session:
    """circusd-stats against a :class:`FakeCircusd`, with a SUB and an XSUB on its output."""

    def __init__(self, harness: Any) -> None:
        self.harness = harness
        self.fake = FakeCircusd(harness.context, harness.endpoint, harness.pubsub)
        self.xsub = harness.context.socket(zmq.XSUB)
        self.xsub.setsockopt(zmq.LINGER, 0)
        self.sub = harness.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"stat.")
        self.log_path: Path = harness.tmp_path / "stats.log"
        self.proc = harness.start_stats("--interval", "0.1", "--log-output", str(self.log_path))
        self.xsub.connect(harness.statspoint)
        self.sub.connect(harness.statspoint)

    def health(self, timeout: float = 15) -> None:
        _health(self.fake, self.sub, self.proc, timeout)

    def settled(self, recovered: int) -> bool:
        """No failure streak under way, and more than ``recovered`` streaks ended."""
        log = self.log()
        ended = log.count("answers again")
        return ended > recovered and log.count("keeps retrying") == ended

    def log(self) -> str:
        out: Path = self.harness.tmp_path / "stats.out"
        return self.log_path.read_text(errors="replace") + out.read_text(errors="replace")

    def close(self) -> int:
        """Close the sockets; the number of crashes circusd-stats logged."""
        self.xsub.close(0)
        self.sub.close(0)
        self.fake.close()
        log = self.log()
        crashes = log.count("Traceback") + log.count("tick failed")
        assert crashes == 0, log[-4000:]
        assert self.proc.poll() is None
        return crashes


def test_arbitrary_events_and_subscriptions(harness) -> None:
    session = Session(harness)
    counts = {"examples": 0, "events": 0, "subscriptions": 0}
    try:
        session.health(30)

        @settings(max_examples=EVENT_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(batch=st.lists(events, max_size=6), subs=subscriptions)
        def check(batch: list[list[bytes]], subs: list[bytes]) -> None:
            for frames in batch:
                if frames:
                    session.fake.pub.send_multipart(frames)
            for frame in subs:
                session.xsub.send(frame)
            session.fake.serve(0.05)  # the resyncs that add/start events ask for
            counts["examples"] += 1
            counts["events"] += len(batch)
            counts["subscriptions"] += len(subs)
            if counts["examples"] % HEALTH_EVERY == 0:
                session.health()

        check()
        session.health()
    finally:
        crashes = session.close()
    print(f"\nstats events fuzz: {counts['examples']} examples, {counts['events']} events, "
          f"{counts['subscriptions']} subscription frames, {crashes} crashes")


def test_wrongly_shaped_circusd_replies(harness) -> None:
    session = Session(harness)
    fake = session.fake
    examples = 0
    try:
        session.health(30)

        @settings(max_examples=REPLY_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(kind=st.sampled_from(KINDS), reply=replies)
        def check(kind: str, reply: object) -> None:
            nonlocal examples
            examples += 1
            recovered = session.log().count("answers again")
            # A "start" event makes circusd-stats ask for the watcher's pids. To
            # reach the other requests, an error reply to that one makes it
            # resync in full (list, list NAME, dstats, listsockets).
            fake.pub.send_multipart([b"watcher.web.start", b"{}"])
            if kind != "list-name":
                fake.serve(3, {"list-name": {"status": "error", "errno": 1, "reason": "x"}})
            fake.serve(4, {kind: reply})
            fake.serve(0.2)  # time to act on the reply
            # Every failure streak (one warning) ends with a sync that works
            # again (one "answers again"): wait for that before the next example.
            deadline = time.monotonic() + 10
            while not session.settled(recovered if kind != "list-name" else -1):
                assert time.monotonic() < deadline, f"no resync after {kind}: {reply!r}"
                fake.serve(0.05)
            assert session.proc.poll() is None, "circusd-stats exited"

        check()
        session.health()
    finally:
        crashes = session.close()
    print(f"\nstats reply fuzz: {examples} examples, {fake.fuzzed} fuzzed replies sent, "
          f"{fake.requests} requests, {crashes} crashes")



# The crashes the reply fuzzing found, replayed: each one ended circusd-stats
# with a traceback (AttributeError, ValueError) before the fix.
WRONG_SHAPES: list[tuple[str, object]] = [
    ("dstats", {"status": "ok", "info": "not an object"}),
    ("dstats", {"status": "ok", "info": [1]}),
    ("listsockets", {"status": "ok", "sockets": [{"fd": -1, "name": "s", "path": "/x"}]}),
    ("listsockets", {"status": "ok", "sockets": [{"fd": 2**70, "name": "s", "path": "/x"}]}),
    ("listsockets", {"status": "ok", "sockets": ["not an object"]}),
    ("listsockets", {"status": "ok", "sockets": 3}),
    ("list", {"status": "ok", "watchers": [{"a": 1}, None, "web"]}),
    ("list-name", {"status": "ok", "pids": "1234"}),
]


def test_replies_of_the_wrong_shape_do_not_end_circusd_stats(harness) -> None:
    session = Session(harness)
    fake = session.fake
    try:
        session.health(30)
        for kind, reply in WRONG_SHAPES:
            recovered = session.log().count("answers again")
            fake.pub.send_multipart([b"watcher.web.start", b"{}"])
            fake.serve(3, {"list-name": {"status": "error", "errno": 1, "reason": "x"}})
            fake.serve(4, {kind: reply})
            fake.serve(0.2)
            deadline = time.monotonic() + 10
            while not session.settled(recovered):
                assert time.monotonic() < deadline, f"no resync after {kind}: {reply!r}"
                fake.serve(0.05)
            assert session.proc.poll() is None, f"circusd-stats exited after {kind}: {reply!r}"
        session.health()
    finally:
        session.close()
