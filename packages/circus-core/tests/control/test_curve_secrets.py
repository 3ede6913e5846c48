"""No CURVE secret ever leaves circusd: not in its log, ``globaloptions`` or ``options``.

A real circusd runs with CURVE and the debug log level, is driven by an
admin client and refused a command from a reader; then its log, every
``globaloptions`` reply and every watcher's ``options`` are searched for the
secret keys (circusd's and the clients'). The helpers circusd launches get
the key file's path on their command line, never a key.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import zmq
from circus._setup import statsd as _statsd
from circus.arbiter import Arbiter
from conftest import poll

from ._keys import write_key


class Client:
    """A blocking CURVE DEALER."""

    def __init__(self, endpoint: str, server_public: bytes, pair: tuple[bytes, bytes]) -> None:
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
        self.sock.setsockopt(zmq.CURVE_PUBLICKEY, pair[0])
        self.sock.setsockopt(zmq.CURVE_SECRETKEY, pair[1])
        self.sock.connect(endpoint)

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        msg_id = uuid.uuid4().hex
        self.sock.send(json.dumps({"command": command, "properties": props,
                                   "id": msg_id}).encode())
        assert self.sock.poll(10_000), f"no reply to {command}"
        reply: dict[str, Any] = json.loads(self.sock.recv())
        assert reply["id"] == msg_id
        return reply

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.term()


def test_no_secret_in_the_log_globaloptions_or_options(circusd, tmp_path: Path):
    server = write_key(tmp_path / "server", "circusd")
    admin = write_key(tmp_path / "clients", "ada", "admin")
    reader = write_key(tmp_path / "clients", "rita", "reader")
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    for name in ("ada", "rita"):
        (authorized / f"{name}.key").write_text((tmp_path / "clients" / f"{name}.key").read_text())
    secret_file = tmp_path / "server" / "circusd.key_secret"
    config = circusd.write("circus.ini", f"""\
[circus]
loglevel = debug
curve_secret_key = {secret_file}
curve_authorized_keys = {authorized}

[watcher:web]
cmd = {sys.executable} -c "import time; time.sleep(60)"
graceful_timeout = 2
""")
    proc = circusd.start(str(config))
    ada = Client(circusd.endpoint, server[0], admin)
    rita = Client(circusd.endpoint, server[0], reader)
    try:
        poll(lambda: ada.call("status")["status"] == "ok", timeout=20)
        replies = [ada.call("globaloptions"), rita.call("globaloptions"),
                   ada.call("options", name="web"), ada.call("get", name="web", keys=["cmd"]),
                   rita.call("incr", name="web")]
        assert replies[-1]["status"] == "error"
        for option in ("curve_secret_key", "curve_authorized_keys"):
            reply = ada.call("globaloptions", option=option)
            assert reply["status"] == "error", reply  # not reported at all
        assert ada.call("quit")["status"] == "ok"
    finally:
        ada.close()
        rita.close()
    assert proc.popen.wait(timeout=20) == 0  # quit ends it
    text = proc.stdout() + proc.stderr() + json.dumps(replies)
    assert "refused 'incr' from key 'rita'" in text  # the log did record the refusal
    for secret in (server[1], admin[1], reader[1]):
        assert secret.decode() not in text


def test_helpers_get_the_key_file_path_and_no_key(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(_statsd, "stats_installed", lambda: True)
    server = write_key(tmp_path / "server", "circusd")
    (tmp_path / "authorized").mkdir()
    arbiter = Arbiter([], endpoint="ipc:///tmp/x-ctl", pubsub_endpoint="ipc:///tmp/x-pub",
                      statsd=True, curve_secret_key=str(tmp_path / "server/circusd.key_secret"),
                      curve_authorized_keys=str(tmp_path / "authorized"))
    cmd = arbiter.watchers[0].cmd
    assert f"--curve-key {tmp_path}/server/circusd.key_secret" in cmd
    assert f"--curve-authorized-keys {tmp_path}/authorized" in cmd
    assert server[1].decode() not in cmd
