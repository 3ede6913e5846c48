"""Pure pieces: password hashes, users and token files, action building, topics."""

from __future__ import annotations

from pathlib import Path

import pytest
from circus.web import Role, hash_password, verify_password
from circus.web._actions import ActionError, build
from circus.web._auth import AuthConfigError, Authenticator, load_tokens, load_users
from circus.web._hub import Hub
from circus.web._node import NodeSpec, split_topic


def test_password_hash_round_trip_and_salting() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second  # a fresh salt each time
    assert first.startswith("scrypt$")
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("S3cret", first)
    assert not verify_password("s3cret", "scrypt$garbage")


def test_users_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("# comment\n\nalice admin notahash\n")
    with pytest.raises(AuthConfigError, match=r"users file .*users, line 3: the hash"):
        load_users(path)
    path.write_text(f"alice root {hash_password('x')}\n")
    with pytest.raises(AuthConfigError, match="line 1: role must be admin or viewer"):
        load_users(path)
    path.write_text(f"alice admin {hash_password('x')}\nbob viewer {hash_password('y')}\n")
    users = load_users(path)
    assert users["bob"].role is Role.VIEWER and users["alice"].role is Role.ADMIN
    with pytest.raises(AuthConfigError, match="No such file"):
        load_users(tmp_path / "missing")


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("viewer short\n")
    with pytest.raises(AuthConfigError, match="at least 16 characters"):
        load_tokens(path)
    path.write_text("viewer " + "v" * 20 + "\nadmin " + "a" * 20 + "\n")
    auth = Authenticator({}, load_tokens(path))
    assert auth.enabled
    session = auth.token("v" * 20)
    assert session is not None and session.role is Role.VIEWER
    assert auth.token("x" * 20) is None


def test_login_throttle_and_logout(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(f"alice admin {hash_password('pw')}\n")
    auth = Authenticator(load_users(path), {}, max_failures=3)
    for _ in range(3):
        assert auth.login("1.2.3.4", "alice", "wrong") is None
    assert auth.throttled("1.2.3.4") and not auth.throttled("5.6.7.8")
    sid = auth.login("5.6.7.8", "alice", "pw")
    assert sid is not None and auth.session(sid) is not None
    auth.logout(sid)
    assert auth.session(sid) is None


def test_actions_are_checked_before_reaching_circusd() -> None:
    assert build("stop", {"name": "web"}) == ("stop", {"name": "web", "waiting": True})
    assert build("incr", {"name": "web"}) == ("incr", {"name": "web", "nb": 1})
    assert build("kill", {"name": "web", "pid": "42"}) == ("kill", {"name": "web", "pid": 42})
    assert build("set", {"name": "w", "key": "numprocesses", "value": "3"}) == (
        "set", {"name": "w", "options": {"numprocesses": "3"}})
    command, props = build("add", {"name": "n", "cmd": "python3 -u 'a b.py'",
                                   "numprocesses": "2"})
    assert command == "add" and props["cmd"] == "python3" and props["args"] == ["-u", "a b.py"]
    with pytest.raises(ActionError, match="field 'name' is required"):
        build("start", {})
    with pytest.raises(ActionError, match="field 'pid': expected a whole number"):
        build("kill", {"name": "w", "pid": "1; rm -rf /"})
    with pytest.raises(ActionError, match="unknown action 'quit'"):
        build("quit", {})


def test_node_spec_and_topics() -> None:
    spec = NodeSpec.parse("tcp://127.0.0.1:5555,pubsub=ipc:///tmp/p,stats=tcp://h:5557")
    assert spec == NodeSpec("tcp://127.0.0.1:5555", "ipc:///tmp/p", "tcp://h:5557")
    with pytest.raises(ValueError, match="unknown part 'foo=1'"):
        NodeSpec.parse("tcp://127.0.0.1:5555,foo=1")
    with pytest.raises(ValueError):
        NodeSpec.parse("http://x")
    assert split_topic("watcher.web.v2.output", "watcher.") == ("web.v2", "output")
    assert split_topic("stat.web.v2.1234", "stat.") == ("web.v2", "1234")


def test_node_spec_stats_key(tmp_path: Path) -> None:
    from circus.client import write_key_pair

    public, _ = write_key_pair(str(tmp_path), "stats")
    spec = NodeSpec.parse(f"tcp://h:5555,stats=tcp://s:5557,stats_key={public}")
    assert spec == NodeSpec("tcp://h:5555", None, "tcp://s:5557", public)
    with pytest.raises(ValueError, match=f"{tmp_path}/missing.key"):
        NodeSpec.parse(f"tcp://h:5555,stats_key={tmp_path}/missing.key")


def test_hub_fans_out_drops_oldest_for_a_laggard_and_routes_output() -> None:
    hub = Hub()
    everyone, follower = hub.join(), hub.join(("n0", "web"))
    for index in range(300):  # more than a stream's queue holds
        hub.publish("node", {"i": index})
    frames = [everyone.queue.get_nowait() for _ in range(everyone.queue.qsize())]
    assert frames[-1] == b'event: node\ndata: {"i":299}\n\n'
    assert len(frames) == 256 and frames[0].endswith(b'{"i":44}\n\n')
    while not follower.queue.empty():
        follower.queue.get_nowait()
    hub.publish_output("n0", "web", {"lines": []})
    assert everyone.queue.empty() and follower.queue.get_nowait().startswith(b"event: output")
    hub.leave(follower)
    hub.publish_output("n0", "web", {"lines": []})
    assert follower.queue.empty()


def test_sessions_expire(tmp_path: Path) -> None:
    from .conftest import wait_for

    path = tmp_path / "users"
    path.write_text(f"alice admin {hash_password('pw')}\n")
    auth = Authenticator(load_users(path), {}, session_seconds=0.2)
    sid = auth.login("127.0.0.1", "alice", "pw")
    assert auth.session(sid) is not None
    wait_for(lambda: auth.session(sid) is None, timeout=5, what="the session to expire")


def test_readiness_events_fold_once_into_copies_and_outlive_an_older_poll() -> None:
    import asyncio

    from circus.web._readiness import COALESCE, Readiness

    async def scenario() -> None:
        flushed = asyncio.Event()
        readiness = Readiness(flushed.set)
        readiness.begin_poll()
        # Events while the poll is in flight: newer than its answer.
        readiness.apply("web", "ready", {"process_pid": 1})
        readiness.apply("web", "unhealthy", {"process_pid": 2, "output": "x" * 5000,
                                             "failures": 3, "time": 7.0})
        readiness.apply("web", "ready", {"process_pid": "1"})  # not a pid: ignored
        watchers: dict[str, dict[str, object]] = {"web": {"pids": [1, 2]}, "plain": {}}
        readiness.annotate(watchers, {"web": {"1": "starting", "2": "ready", "3": "bogus"},
                                      "plain": "nonsense"})
        assert watchers["web"]["health"] == {"1": "ready", "2": "unhealthy"}
        assert "health" not in watchers["plain"]
        record = watchers["web"]["last_unhealthy"]
        assert isinstance(record, dict)
        assert (record["pid"], record["failures"], len(record["output"])) == (2, 3, 1000)
        # One flush for the burst; folding copies what it changes.
        await asyncio.wait_for(flushed.wait(), COALESCE * 40)
        readiness.apply("web", "starting", {"process_pid": 1})
        before = watchers["web"]["health"]
        folded = readiness.fold(watchers)
        assert folded["web"]["health"] == {"1": "starting", "2": "unhealthy"}
        assert before == {"1": "ready", "2": "unhealthy"}  # the old snapshot is untouched
        assert folded["plain"] is watchers["plain"]
        readiness.close()

    asyncio.run(scenario())
