"""circusd-stats under a circusd with CURVE: it authenticates to circusd, and serves its
stats endpoint with CURVE to the authorized keys only.

circusd launches circusd-stats itself (``statsd = True``) and hands it its key
file's path; the stats endpoint then has circusd's public key.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import zmq
from circus.client import load_curve_keys, read_key_file, write_key_pair

from .conftest import Harness, StatsSub


def _curve_sub(harness: Harness, server_key: str | None, client_key: str | None) -> StatsSub:
    """A SUB on the stats endpoint, as a CURVE client when given keys."""
    sub = StatsSub.__new__(StatsSub)
    sub.sock = harness.context.socket(zmq.SUB)
    sub.sock.setsockopt(zmq.LINGER, 0)
    if server_key and client_key:
        load_curve_keys(server_key, client_key).secure(sub.sock)
    sub.sock.setsockopt(zmq.SUBSCRIBE, b"stat.")
    sub.sock.connect(harness.statspoint)
    harness.subs.append(sub)
    return sub


def _received_within(sub: StatsSub, seconds: float) -> list[bytes]:
    topics = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if sub.sock.poll(int(left * 1000)):
            topics.append(sub.sock.recv_multipart()[0])
    return topics


def test_stats_go_to_authorized_keys_only(harness: Harness, tmp_path: Path) -> None:
    server_public, server_secret = write_key_pair(str(tmp_path / "server"), "circusd")
    top_public, top_secret = write_key_pair(str(tmp_path / "clients"), "top", "reader")
    _, stranger_secret = write_key_pair(str(tmp_path / "clients"), "stranger", "reader")
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    (authorized / "top.key").write_text(Path(top_public).read_text())

    top = _curve_sub(harness, server_public, top_secret)
    outsiders = [_curve_sub(harness, server_public, stranger_secret),
                 _curve_sub(harness, None, None)]
    harness.start_circusd(
        f"statsd = True\nstats_endpoint = {harness.statspoint}\nloglevel = debug\n"
        f"curve_secret_key = {server_secret}\ncurve_authorized_keys = {authorized}\n\n"
        "[watcher:sleeper]\ncmd = sleep 600\n")

    # circusd-stats reached circusd (with CURVE) and learnt the sleeper's pid.
    top.until(lambda topic, _: topic.startswith("stat.sleeper."), 20, "the sleeper's stats")
    for outsider in outsiders:
        assert _received_within(outsider, 2.0) == []
    assert _received_within(top, 2.0)  # still flowing to the authorized one
    # Its ipc file is circusd-stats's user's only, as circusd's endpoints are.
    assert stat.S_IMODE(os.stat(harness.statspoint[len("ipc://"):]).st_mode) == 0o600

    log = (harness.tmp_path / "circusd.log").read_text()
    assert "circusd-stats" in log
    for secret_file in (server_secret, top_secret):
        secret = read_key_file(secret_file).secret
        assert secret is not None and secret.decode() not in log
    harness.remember_children()

