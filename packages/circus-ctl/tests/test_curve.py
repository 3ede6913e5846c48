"""CURVE from the client side: ``circusctl keygen``, the key options, and talking to a
daemon (and a publisher) that require CURVE.

The daemon is the scripted ROUTER of conftest, made a CURVE server with
pyzmq's authenticator admitting the ``*.key`` files of one directory.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from circus.client import (
    CallTimeout,
    CircusClient,
    CurveKeys,
    EventSubscriber,
    KeyFileError,
    load_curve_keys,
    read_key_file,
    write_key_pair,
)
from conftest import FakeDaemon, assert_no_traceback, ctl_env, run_ctl


class Keys:
    """A server key pair, an authorized client and a stranger, in one test's directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server_public, self.server_secret = write_key_pair(str(root / "server"), "circusd")
        self.client_public, self.client_secret = write_key_pair(str(root / "clients"), "ops",
                                                                "operator")
        _, self.stranger_secret = write_key_pair(str(root / "clients"), "stranger", "admin")
        self.authorized = root / "authorized"
        self.authorized.mkdir()
        (self.authorized / "ops.key").write_text(Path(self.client_public).read_text())

    def server(self) -> tuple[bytes, bytes, str]:
        pair = read_key_file(self.server_secret)
        assert pair.secret is not None
        return pair.public, pair.secret, str(self.authorized)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


@pytest.fixture
def curve_daemon(keys: Keys) -> Iterator[FakeDaemon]:
    fake = FakeDaemon(curve=keys.server())
    fake.replies["list"] = {"watchers": ["web"]}
    yield fake
    fake.close()


def test_keygen_writes_a_public_and_a_private_file_with_the_role(tmp_path):
    result = run_ctl("keygen", "top", "--role", "reader", "--dir", str(tmp_path / "k"))
    assert result.returncode == 0, result.stderr
    public, secret = tmp_path / "k" / "top.key", tmp_path / "k" / "top.key_secret"
    assert result.stdout.splitlines() == [f"public key: {public}", f"secret key: {secret}"]
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    pub, sec = read_key_file(str(public)), read_key_file(str(secret), need_secret=True)
    assert pub.role == sec.role == "reader"
    assert pub.public == sec.public and pub.secret is None and sec.secret is not None
    assert "secret-key" not in public.read_text()
    # pyzmq reads them as its own certificates.
    import zmq.auth

    assert zmq.auth.load_certificate(str(secret)) == (sec.public, sec.secret)


def test_keygen_never_overwrites_a_key(tmp_path):
    assert run_ctl("keygen", "a", "--dir", str(tmp_path)).returncode == 0
    before = (tmp_path / "a.key_secret").read_text()
    result = run_ctl("keygen", "a", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {tmp_path}/a.key exists already; remove it or "
                                      "pick another name")
    assert (tmp_path / "a.key_secret").read_text() == before


def test_keygen_refuses_an_unknown_role_in_one_line(tmp_path):
    result = run_ctl("keygen", "a", "--role", "root", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'root'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_circusctl_talks_curve_with_the_key_options(curve_daemon, keys):
    result = run_ctl("--endpoint", curve_daemon.endpoint, "--curve-server-key",
                     keys.server_public, "--curve-key", keys.client_secret, "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "web"


def test_circusctl_takes_the_keys_from_the_environment(curve_daemon, keys):
    env = ctl_env(CIRCUS_CURVE_SERVER_KEY=keys.server_public,
                  CIRCUS_CURVE_KEY=keys.client_secret)
    result = run_ctl("--endpoint", curve_daemon.endpoint, "list", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "web"


def test_a_stranger_key_gets_no_reply_and_a_hint(curve_daemon, keys):
    result = run_ctl("--endpoint", curve_daemon.endpoint, "--timeout", "1",
                     "--curve-server-key", keys.server_public,
                     "--curve-key", keys.stranger_secret, "list")
    assert result.returncode == 1
    assert_no_traceback(result)
    assert "curve_authorized_keys" in result.stderr
    assert curve_daemon.requests == []


def test_without_curve_a_curve_daemon_hears_nothing(curve_daemon, keys):
    result = run_ctl("--endpoint", curve_daemon.endpoint, "--timeout", "1", "list")
    assert result.returncode == 1
    assert_no_traceback(result)
    assert curve_daemon.requests == []


def test_half_the_curve_options_is_a_usage_error(keys):
    result = run_ctl("--curve-key", keys.client_secret, "list")
    assert result.returncode == 2
    assert "--curve-server-key is missing" in result.stderr
    assert_no_traceback(result)


def test_a_missing_key_file_is_named(tmp_path, keys):
    missing = str(tmp_path / "nope.key_secret")
    result = run_ctl("--curve-server-key", keys.server_public, "--curve-key", missing, "list")
    assert result.returncode == 2
    assert f"CURVE key file {missing}: cannot read it" in result.stderr
    assert_no_traceback(result)


def test_a_public_key_file_is_not_a_client_key(keys):
    with pytest.raises(KeyFileError, match="holds no secret key"):
        load_curve_keys(keys.server_public, keys.client_public)


def test_the_keys_never_show_their_secret(keys):
    curve = load_curve_keys(keys.server_public, keys.client_secret)
    assert curve.secret.decode() not in repr(curve)
    assert isinstance(curve, CurveKeys)


def test_the_library_client_times_out_with_the_hint_for_a_stranger(curve_daemon, keys):
    curve = load_curve_keys(keys.server_public, keys.stranger_secret)
    with CircusClient(curve_daemon.endpoint, timeout=0.5, curve=curve) as client:
        with pytest.raises(CallTimeout, match="curve_authorized_keys"):
            client.call("list")
        # A second call after the refused handshake must not hang either.
        with pytest.raises(CallTimeout):
            client.call("list")


def test_the_event_subscriber_talks_curve(keys):
    server_public, server_secret, directory = keys.server()
    context = zmq.Context()
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=directory)
    pub = context.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.CURVE_SERVER, 1)
    pub.setsockopt(zmq.CURVE_PUBLICKEY, server_public)
    pub.setsockopt(zmq.CURVE_SECRETKEY, server_secret)
    endpoint = f"tcp://127.0.0.1:{pub.bind_to_random_port('tcp://127.0.0.1')}"
    curve = load_curve_keys(keys.server_public, keys.client_secret)
    try:
        with EventSubscriber(endpoint, ["watcher."], curve=curve) as events:
            assert pub.poll(10_000), "the CURVE subscriber never subscribed"
            assert pub.recv() == b"\x01watcher."
            pub.send_multipart([b"watcher.web.start", b'{"x": 1}'])
            assert events.recv(timeout=10) == ("watcher.web.start", {"x": 1})
    finally:
        pub.close()
        auth.stop()
        context.term()
