"""circusctl --ssh reaches a daemon through a real sshd (paramiko tunnel)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from circus.client import (
    AsyncCircusClient,
    CircusClient,
    ConnectionFailed,
    EventSubscriber,
    StatusReply,
    close_ssh_tunnels,
    open_sub,
)
from conftest import assert_no_traceback, ctl_argv, ctl_env, poll, run_ctl

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A throwaway sshd on a free port that accepts one generated key for root."""
    for tool in (SSHD, "ssh-keygen"):
        assert shutil.which(tool), f"{tool} is needed for this test"
    host_key, client_key = tmp_path / "host_key", tmp_path / "client_key"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text((tmp_path / "client_key.pub").read_text())
    port = _free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nAuthorizedKeysFile {authorized}\nStrictModes no\n"
        "PermitRootLogin yes\nPasswordAuthentication no\nUsePAM no\n"
        f"PidFile {tmp_path / 'sshd.pid'}\nAllowTcpForwarding yes\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-p", str(port), "-f", str(config),
                             "-h", str(host_key)], stderr=subprocess.PIPE, text=True)
    try:
        poll(lambda: _accepts(port) or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()[1]
        # pyzmq's paramiko tunnel rejects unknown hosts: trust this one via ~/.ssh.
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        host_pub = (tmp_path / "host_key.pub").read_text().split()
        known = f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n"
        (home / ".ssh" / "known_hosts").write_text(known)
        yield port, client_key
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_status_through_an_ssh_tunnel(daemon, sshd, tmp_path):
    port, key = sshd
    daemon.replies["status"] = {"statuses": {"tunnelled": "active"}}
    result = run_ctl("--ssh", f"root@127.0.0.1:{port}", "--ssh_keyfile", str(key),
                     "--endpoint", daemon.endpoint, "status",
                     env=ctl_env(HOME=str(tmp_path / "home")), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tunnelled: active\n"
    assert daemon.last()["command"] == "status"
    assert_no_traceback(result)


def test_bad_ssh_key_is_a_clear_error(daemon, sshd, tmp_path):
    port, _ = sshd
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    result = run_ctl("--ssh", f"root@127.0.0.1:{port}", "--ssh_keyfile", str(wrong),
                     "--endpoint", daemon.endpoint, "--timeout", "3", "status",
                     env=ctl_env(HOME=str(tmp_path / "home")), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert_no_traceback(result)


def test_event_subscriber_through_an_ssh_tunnel(publisher, sshd, tmp_path, monkeypatch):
    # The same open_sub that circus-top and circusd-stats use for --ssh.
    port, key = sshd
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with EventSubscriber(publisher.endpoint, topics=["stat."],
                         ssh_server=f"root@127.0.0.1:{port}", ssh_keyfile=str(key)) as events:
        publisher.wait_subscribed()
        publisher.publish("stat.web.42", {"pid": 42})
        assert events.recv(timeout=20) == ("stat.web.42", {"pid": 42})


def test_open_sub_with_a_bad_endpoint_raises_connection_failed():
    context = zmq.Context()
    try:
        with pytest.raises(ConnectionFailed, match="cannot connect to tcp://nowhere"):
            open_sub(context, "tcp://nowhere", ["stat."])
    finally:
        context.term()


def test_a_tunnel_that_is_an_ssh_pid_is_forgotten_not_killed():
    # Without paramiko, pyzmq hands back the pid of an ssh that went to the
    # background, or of the user's ControlMaster: neither is ours to kill.
    from circus.client._tunnels import track

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        track(other.pid)
        close_ssh_tunnels()
        close_ssh_tunnels()  # nothing left to end
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_clients_end_their_tunnel_when_closed(daemon, sshd, tmp_path, monkeypatch):
    # In-process clients: the tunnel (a forked process) must go with the client,
    # or a long-lived program would pile them up (the autouse check sees leftovers).
    port, key = sshd
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    daemon.replies["status"] = {"statuses": {"tunnelled": "active"}}
    server = f"root@127.0.0.1:{port}"
    with CircusClient(daemon.endpoint, timeout=20, ssh_server=server, ssh_keyfile=str(key),
                      transport="pyzmq") as client:
        assert client.call("status")["statuses"] == {"tunnelled": "active"}
        assert _tunnels()
    assert _tunnels() == []  # gone with the client, while sshd still serves

    async def async_call() -> StatusReply:
        async with AsyncCircusClient(daemon.endpoint, timeout=20, ssh_server=server,
                                     ssh_keyfile=str(key)) as client:
            reply = await client.call("status")
            assert _tunnels()
            return reply

    assert asyncio.run(async_call())["statuses"] == {"tunnelled": "active"}
    assert _tunnels() == []
    close_ssh_tunnels()  # a no-op now: each client ended its own


def _tunnels() -> list[int]:
    """Our live children other than the test's sshd: the tunnels' forked processes."""
    me = os.getpid()
    found = []
    for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"sshd" not in cmdline and state != "Z":  # sshd retitles itself
            found.append(int(pid))
    return found


def test_listen_through_an_ssh_tunnel(publisher, sshd, tmp_path):
    # --ssh applies to listen too: the SUB reaches the endpoint through a tunnel
    # (a child of circusctl), and the tunnel ends with it.
    port, key = sshd
    proc = subprocess.Popen(
        ctl_argv("--ssh", f"root@127.0.0.1:{port}", "--ssh_keyfile", str(key),
                 "--endpoint", publisher.endpoint, "listen", "watcher."),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ctl_env(HOME=str(tmp_path / "home")), cwd=tmp_path)
    try:
        assert publisher.wait_subscribed(timeout=60) == b"watcher."
        tunnels = poll(lambda: _children_of(proc.pid))
        publisher.publish("watcher.web.spawn", {"process_pid": 9, "time": 1.0})
        line = proc.stdout.readline()  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert line == 'watcher.web.spawn: {"process_pid": 9, "time": 1.0}\n'
    assert (proc.returncode, out, err) == (0, "", "")
    poll(lambda: not any(Path(f"/proc/{pid}").exists() for pid in tunnels))


def _children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
