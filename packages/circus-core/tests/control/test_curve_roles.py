"""CURVE on the control and event channels: who gets in, and what each role may do.

Each test runs a real arbiter whose channels require CURVE, with key files
written the way ``circusctl keygen`` writes them (role in the metadata, or in
the file name), and real ZMQ clients: authorized ones with each role, one
with a key circusd does not know, and one without CURVE at all.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from circus.errors import COMMAND_ERROR
from circus.watcher import Watcher
from conftest import python_cmd

from ._keys import write_key

SLEEPER = python_cmd("import time\nwhile True: time.sleep(0.2)")


class Keys:
    """circusd's key pair and the clients' (authorized or not) in one test's directory."""

    def __init__(self, root: Path) -> None:
        self.server = write_key(root / "server", "circusd")
        self.secret_file = str(root / "server" / "circusd.key_secret")
        self.authorized = root / "authorized"
        self.clients = root / "clients"
        self.pairs: dict[str, tuple[bytes, bytes]] = {}
        for name, role in (("ada", "admin"), ("olga", "operator"), ("rita", "reader")):
            self.pairs[name] = write_key(self.clients, name, role)
        # The role in the name instead of the metadata.
        self.pairs["otto.operator"] = write_key(self.clients, "otto.operator")
        self.pairs["stranger"] = write_key(self.clients, "stranger", "admin")
        # Authorized files that grant nothing: a role circus does not have, no role at all.
        self.pairs["rooty"] = write_key(self.clients, "rooty", "root")
        self.pairs["norole"] = write_key(self.clients, "norole")
        self.authorized.mkdir()
        for name in ("ada", "olga", "rita", "otto.operator", "rooty", "norole"):
            src = self.clients / f"{name}.key"
            (self.authorized / src.name).write_text(src.read_text())

    def options(self) -> dict[str, Any]:
        return {"curve_secret_key": self.secret_file,
                "curve_authorized_keys": str(self.authorized)}

    def secure(self, sock: zmq.asyncio.Socket, name: str) -> None:
        public, secret = self.pairs[name]
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server[0])
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)


class Peer:
    """A DEALER (and a SUB) on the arbiter's channels, as client ``name`` or in clear."""

    def __init__(self, harness: Any, keys: Keys, name: str | None) -> None:
        self.context = zmq.asyncio.Context()
        self.dealer = self.context.socket(zmq.DEALER)
        self.sub = self.context.socket(zmq.SUB)
        for sock in (self.dealer, self.sub):
            sock.setsockopt(zmq.LINGER, 0)
            if name is not None:
                keys.secure(sock, name)
        self.dealer.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.dealer.connect(harness.arbiter.endpoint)
        self.sub.connect(harness.arbiter.pubsub_endpoint)

    async def call(self, command: str, timeout: float = 5.0, **props: Any) -> dict[str, Any] | None:
        """The reply to ``command``, or None if none comes within ``timeout``."""
        msg_id = uuid.uuid4().hex
        # After a refused handshake the DEALER has no peer: a send would wait forever.
        if not await self.dealer.poll(int(timeout * 1000), zmq.POLLOUT):  # type: ignore[call-arg]
            return None
        await self.dealer.send(json.dumps({"command": command, "properties": props,
                                           "id": msg_id}).encode())
        if not await self.dealer.poll(int(timeout * 1000)):
            return None
        reply: dict[str, Any] = json.loads(await self.dealer.recv())
        assert reply["id"] == msg_id
        return reply

    async def events(self, within: float) -> list[bytes]:
        """The topics received within ``within`` seconds."""
        topics = []
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            if await self.sub.poll(int(left * 1000)):
                topics.append((await self.sub.recv_multipart())[0])
        return topics

    def close(self) -> None:
        self.dealer.close(linger=0)
        self.sub.close(linger=0)
        self.context.term()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


@pytest.fixture
async def daemon(make_arbiter, keys):
    return await make_arbiter(Watcher("web", SLEEPER, numprocesses=1), channels=True,
                              **keys.options())


@pytest.fixture
async def peers(daemon, keys):
    made: list[Peer] = []

    def peer(name: str | None) -> Peer:
        made.append(Peer(daemon, keys, name))
        return made[-1]

    yield peer
    for each in made:
        each.close()


async def _published(admin: Peer, daemon: Any) -> None:
    # A SUB sees only what is sent after its subscription arrived: probe until one shows.
    deadline = time.monotonic() + 5
    while not await admin.sub.poll(20):
        assert time.monotonic() < deadline, "the admin's subscriber never connected"
        daemon.arbiter.events.publish("probe", "ping", {})
    await admin.sub.recv_multipart()


async def test_a_client_without_an_authorized_key_can_neither_list_add_nor_subscribe(
        daemon, peers):
    admin = peers("ada")
    for outsider in (peers("stranger"), peers(None), peers("rooty"), peers("norole")):
        assert await outsider.call("list", timeout=1.0) is None
        assert await outsider.call("add", timeout=0.5, name="intruder",
                                   cmd=python_cmd("print('pwned')"), start=True) is None
    assert [w.name for w in daemon.arbiter.watchers] == ["web"]
    # Events flow to the authorized subscriber and to no one else.
    await _published(admin, daemon)
    outsiders = [peers("stranger"), peers(None)]
    for _ in range(20):
        daemon.arbiter.events.publish("web", "probe", {})
    assert b"watcher.web.probe" in await admin.events(0.5)
    for outsider in outsiders:
        assert await outsider.events(0.5) == []
    # And the authorized client runs commands.
    reply = await admin.call("list")
    assert reply is not None and reply["status"] == "ok" and reply["watchers"] == ["web"]


async def test_a_reader_may_query_and_nothing_else(daemon, peers):
    reader = peers("rita")
    queries: list[tuple[str, dict[str, object]]] = [
        ("list", {}), ("status", {}), ("globaloptions", {}), ("options", {"name": "web"}),
        ("numprocesses", {})]
    for command, props in queries:
        reply = await reader.call(command, **props)
        assert reply is not None and reply["status"] == "ok", (command, reply)
    refused: list[tuple[str, dict[str, object]]] = [
        ("incr", {"name": "web"}), ("stop", {"name": "web"}),
        ("signal", {"name": "web", "signum": 1}),
        ("add", {"name": "x", "cmd": SLEEPER}), ("quit", {})]
    for command, props in refused:
        reply = await reader.call(command, **props)
        assert reply is not None, command
        assert reply["status"] == "error" and reply["errno"] == COMMAND_ERROR, reply
        assert reply["reason"].startswith("permission denied: key 'rita' has role 'reader'")
        assert repr(command) in reply["reason"]
    assert len(daemon.watcher("web").processes) == 1


async def test_an_operator_drives_watchers_but_cannot_change_what_runs(daemon, peers):
    for name in ("olga", "otto.operator"):  # role from the metadata, then from the name
        operator = peers(name)
        reply = await operator.call("incr", name="web", waiting=True)
        assert reply is not None and reply["status"] == "ok", reply
        reply = await operator.call("set", name="web", options={"graceful_timeout": 3})
        assert reply is not None and reply["status"] == "ok", reply
        for command, props in (
            ("add", {"name": "x", "cmd": SLEEPER}),
            ("rm", {"name": "web"}),
            ("quit", {}),
            ("reloadconfig", {}),
            ("set", {"name": "web", "options": {"cmd": "sh -c id"}}),
            ("set", {"name": "web", "options": {"args": "-c id"}}),
            ("set", {"name": "web", "options": {"env": {"LD_PRELOAD": "/x.so"}}}),
            ("set", {"name": "web", "options": {"uid": 0}}),
            ("set", {"name": "web", "options": {"hooks.before_start": "os.system"}}),
            ("set", {"name": "web", "options": {"stdout_stream.class": "x.Y"}}),
        ):
            reply = await operator.call(command, **props)
            assert reply is not None, (command, props)
            assert reply["status"] == "error", (command, props, reply)
            assert reply["reason"].startswith(f"permission denied: key {name!r} has role "
                                              "'operator'"), reply
    watcher = daemon.watcher("web")
    assert watcher.numprocesses == 3
    assert watcher.cmd == SLEEPER
    assert [w.name for w in daemon.arbiter.watchers] == ["web"]


async def test_a_refused_command_is_audited_on_the_event_channel(daemon, peers):
    admin = peers("ada")
    await _published(admin, daemon)
    reply = await peers("rita").call("rm", name="web")
    assert reply is not None and reply["status"] == "error"
    deadline = time.monotonic() + 5
    event = None
    while event is None:
        assert time.monotonic() < deadline, "no arbiter.refused event"
        if await admin.sub.poll(100):
            topic, body = await admin.sub.recv_multipart()
            if topic == b"arbiter.refused":
                event = json.loads(body)
    assert event["command"] == "rm" and event["key"] == "rita" and event["role"] == "reader"
    assert "permission denied" in event["reason"]


async def test_an_admin_may_do_everything(daemon, peers):
    admin = peers("ada")
    reply = await admin.call("add", name="extra", cmd=SLEEPER, start=True, waiting=True)
    assert reply is not None and reply["status"] == "ok", reply
    reply = await admin.call("set", name="extra", options={"env": {"A": "1"}})
    assert reply is not None and reply["status"] == "ok", reply
    reply = await admin.call("rm", name="extra", waiting=True)
    assert reply is not None and reply["status"] == "ok", reply


async def test_a_key_file_added_later_is_accepted_without_a_restart(daemon, peers, keys):
    stranger = peers("stranger")
    assert await stranger.call("list", timeout=0.5) is None
    stranger.close()
    (keys.authorized / "stranger.key").write_text(
        (keys.clients / "stranger.key").read_text())
    later = peers("stranger")
    reply = await later.call("add", name="x", cmd=SLEEPER)
    assert reply is not None and reply["status"] == "ok", reply  # its metadata says admin


async def test_only_one_of_the_two_curve_options_is_a_config_error(make_arbiter, keys):
    from circus.arbiter import Arbiter
    from circus.errors import ConfigError

    with pytest.raises(ConfigError, match="curve_secret_key is set but curve_authorized_keys"):
        Arbiter([], endpoint=None, pubsub_endpoint=None, curve_secret_key=keys.secret_file)
    with pytest.raises(ConfigError, match="curve_authorized_keys is set but curve_secret_key"):
        Arbiter([], endpoint=None, pubsub_endpoint=None,
                curve_authorized_keys=str(keys.authorized))


async def test_a_missing_key_file_is_named_when_the_channels_open(make_arbiter, keys, tmp_path):
    from circus.errors import CircusError

    missing = str(tmp_path / "nope.key_secret")
    with pytest.raises(CircusError, match=f"curve_secret_key {missing}: cannot read"):
        await make_arbiter(channels=True, curve_secret_key=missing,
                           curve_authorized_keys=str(keys.authorized))
