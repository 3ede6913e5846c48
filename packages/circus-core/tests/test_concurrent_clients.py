"""Twenty clients at once: every reply right, and the processes exactly as commanded.

A real circusd subprocess runs ten watchers. Twenty raw pyzmq DEALER clients,
one thread each, fire 200 mixed commands between them (``waiting: true``
wherever it applies). Upstream answers such overlap with errno 5 "arbiter is
already running ..."; we queue per watcher (README, "Commands": no global
lock), so every reply must be a success with upstream's keys. Afterwards each watcher runs exactly
the number of processes the commands add up to, and ``list`` matches
circusd's real children: no pid twice, none lost, no zombie.

Watchers have roles so that the final state does not depend on the order the
commands ran in: ``scale*`` only see incr/decr (never enough decrs to reach
zero), ``sized`` only sees ``set numprocesses`` to one value, ``cycled``
sees stop/start/restart/reload (a final ``start`` makes it active),
``signalled`` sees signal/kill (its processes get replaced), ``calm`` only
read-only commands.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import zmq
from conftest import CircusdLauncher, CircusdProcess, poll, python_cmd

CLIENTS = 20
PER_CLIENT = 10
START = 3
SCALED = [f"scale{i}" for i in range(5)]
OTHERS = ["sized", "cycled", "cycled2", "signalled", "calm"]
WATCHERS = SCALED + OTHERS
SIZED_TO = 4
REPLY_TIMEOUT_MS = 60_000
STATES = {"active", "stopped", "starting", "stopping"}
SLEEP = python_cmd("import time; [time.sleep(1) for _ in iter(int, 1)]")


@pytest.fixture
def ipc() -> Iterator[Path]:
    """A short private directory for this test's ipc endpoints."""
    path = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _config(ipc: Path) -> str:
    sections = [f"[circus]\nendpoint = ipc://{ipc}/ctl\npubsub_endpoint = ipc://{ipc}/pub\n"]
    for name in WATCHERS:
        sections.append(f"[watcher:{name}]\ncmd = {SLEEP}\nnumprocesses = {START}\n"
                        "graceful_timeout = 5\n")
    return "\n".join(sections)


class Client:
    """One DEALER connection; ``call`` sends a request and returns the matching reply."""

    def __init__(self, context: zmq.Context[Any], endpoint: str) -> None:
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        request_id = uuid.uuid4().hex
        self.socket.send(json.dumps({"command": command, "properties": props,
                                     "id": request_id}).encode())
        while True:
            if not self.socket.poll(REPLY_TIMEOUT_MS):
                raise AssertionError(f"no reply to {command} {props}")
            reply: dict[str, Any] = json.loads(self.socket.recv())
            if reply.get("id") == request_id:
                return reply

    def close(self) -> None:
        self.socket.close()


def _plan(seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Every client's commands: 200 in all, shuffled with a fixed seed."""
    rng = random.Random(seed)
    plan: list[tuple[str, dict[str, Any]]] = []
    for name in SCALED:
        # At most START - 1 decrs per watcher: never reaches the floor at zero.
        plan += [("incr", {"name": name, "waiting": True})] * 4
        plan += [("decr", {"name": name, "waiting": True})] * 2
        plan += [("incr", {"name": name, "nb": 2, "waiting": True})]
        plan += [("numprocesses", {"name": name}), ("list", {"name": name})]
    plan += [("set", {"name": "sized", "options": {"numprocesses": SIZED_TO},
                      "waiting": True})] * 6
    for name in ("cycled", "cycled2"):
        plan += [("stop", {"name": name, "waiting": True, "match": "simple"}),
                 ("start", {"name": name, "waiting": True, "match": "glob"}),
                 ("restart", {"name": name, "waiting": True, "match": "glob"}),
                 ("reload", {"name": name, "waiting": True, "graceful": True,
                             "sequential": False}),
                 ("status", {"name": name})] * 3
    plan += [("signal", {"name": "signalled", "signum": "TERM"}),
             ("kill", {"name": "signalled", "waiting": True}),
             ("stats", {"name": "signalled", "extended": False})] * 5
    plan += [("status", {})] * 10 + [("list", {})] * 10 + [("numwatchers", {})] * 10
    plan += [("stats", {"name": "calm", "extended": False})] * 10
    plan += [("numprocesses", {})] * 10 + [("dstats", {})] * 5 + [("globaloptions", {})] * 5
    plan += [("reload", {"waiting": True, "graceful": True, "sequential": False})] * 2
    plan += [("status", {"name": "calm"})] * (CLIENTS * PER_CLIENT - len(plan))
    assert len(plan) == CLIENTS * PER_CLIENT
    rng.shuffle(plan)
    return plan


def _check_reply(command: str, props: dict[str, Any], reply: dict[str, Any]) -> None:
    """The reply is a success with the keys upstream gives for this command."""
    assert isinstance(reply.get("time"), float), reply
    name = props.get("name")
    if command == "status" and name:
        assert reply["status"] in STATES, (command, props, reply)
        return
    assert reply["status"] == "ok", (command, props, reply)
    if command in ("incr", "decr"):
        assert isinstance(reply["numprocesses"], int) and reply["numprocesses"] > 0, reply
    elif command == "list" and name:
        pids = reply["pids"]
        assert all(isinstance(pid, int) for pid in pids) and len(set(pids)) == len(pids)
    elif command == "list":
        assert reply["watchers"] == sorted(WATCHERS), reply
    elif command == "status":
        assert set(reply["statuses"]) == set(WATCHERS)
        assert set(reply["statuses"].values()) <= STATES
    elif command == "numprocesses":
        assert isinstance(reply["numprocesses"], int), reply
        if name:
            assert reply["watcher_name"] == name
    elif command == "numwatchers":
        assert reply["numwatchers"] == len(WATCHERS)
    elif command == "stats":
        assert reply["name"] == name and isinstance(reply["info"], dict), reply
    elif command == "dstats":
        assert {"pid", "cpu", "mem", "ctime"} <= set(reply["info"]), reply
    elif command == "globaloptions":
        assert "endpoint" in reply["options"], reply
    elif command in ("start", "restart", "reload") and name:
        assert isinstance(reply["info"], dict), reply
    elif command == "stop" and name:
        assert "info" in reply, reply


def _live_children(daemon: CircusdProcess) -> tuple[list[int], list[int]]:
    """(live, zombie) children of circusd."""
    live: list[int] = []
    zombies: list[int] = []
    for child in psutil.Process(daemon.pid).children():
        try:
            (zombies if child.status() == psutil.STATUS_ZOMBIE else live).append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return live, zombies


def test_twenty_clients_two_hundred_commands(circusd: CircusdLauncher, ipc: Path) -> None:
    endpoint = f"ipc://{ipc}/ctl"
    daemon = circusd.start(str(circusd.write("concurrent.ini", _config(ipc))))
    daemon.wait_children(START * len(WATCHERS), timeout=30)
    context: zmq.Context[Any] = zmq.Context()
    plan = _plan(seed=1)
    failures: list[str] = []
    replies: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    barrier = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        conn = Client(context, endpoint)
        try:
            barrier.wait(timeout=30)
            for command, props in plan[index::CLIENTS]:
                reply = conn.call(command, **props)
                replies.append((command, props, reply))
                _check_reply(command, props, reply)
        except Exception as exc:  # reported by the main thread, which fails the test
            failures.append(f"client {index}: {exc!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert failures == [], f"{failures}\n{daemon.stderr()}"
    assert len(replies) == CLIENTS * PER_CLIENT

    checker = Client(context, endpoint)
    try:
        # Watchers stopped by the last stop of the mix are started again.
        for name in ("cycled", "cycled2"):
            reply = checker.call("start", name=name, waiting=True, match="simple")
            assert reply["status"] == "ok", reply
        expected = {name: START for name in WATCHERS}
        for name in SCALED:
            expected[name] = START + 4 - 2 + 2
        expected["sized"] = SIZED_TO

        last: list[str] = []

        def settled() -> dict[str, list[int]] | None:
            lists = {}
            for name in WATCHERS:
                reply = checker.call("list", name=name)
                assert reply["status"] == "ok", reply
                lists[name] = reply["pids"]
            live, zombies = _live_children(daemon)
            counted = {name: len(pids) for name, pids in lists.items()}
            listed = [pid for pids in lists.values() for pid in pids]
            if counted == expected and sorted(listed) == sorted(live) and not zombies:
                return lists
            last[:] = [f"counted {counted} expected {expected}; listed-not-live "
                       f"{sorted(set(listed) - set(live))}; live-not-listed "
                       f"{sorted(set(live) - set(listed))}; zombies {zombies}"]
            return None

        try:
            lists = poll(settled, timeout=30, interval=0.05)
        except AssertionError:
            raise AssertionError(f"never settled: {last}\n{daemon.stderr()[-3000:]}") from None
        listed = [pid for pids in lists.values() for pid in pids]
        assert [pid for pid, n in Counter(listed).items() if n > 1] == []
        statuses = checker.call("status")["statuses"]
        assert statuses == {name: "active" for name in WATCHERS}, statuses
        for name in WATCHERS:
            reply = checker.call("numprocesses", name=name)
            assert reply["numprocesses"] == expected[name], (name, reply)
    finally:
        checker.close()
        context.term()
    daemon.stop()
    assert "Traceback" not in daemon.stderr() + daemon.stdout()
