"""Bad input, abrupt clients and crowds: every client gets an answer, papa stays up."""

from __future__ import annotations

import os
import socket
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Client, child, drain_watch, field, wait_for


def still_serving(kernel) -> None:
    assert kernel.proc.poll() is None
    conn = kernel.client()
    assert conn.ok("version").startswith("version=")
    conn.close()


def test_huge_line_is_refused_and_the_stream_resyncs(kernel, client):
    client.send(b"set big " + b"x" * (300 * 1024) + b"\nget k\n")
    assert client.read_until(b"\n> ") == b"Error: line too long\n> "
    assert client.read_until(b"\n> ") == b"\n> "
    client.send(b"y" * (1 << 20))  # no newline at all
    client.send(b"\nset k v\n")
    assert client.read_until(b"\n> ") == b"Error: line too long\n> "
    assert client.read_until(b"\n> ") == b"\n> "
    assert client.cmd("get k") == b"v\n> "


def test_binary_garbage_and_nul_bytes(kernel, client):
    reply = client.cmd(bytes(range(256)).replace(b"\n", b""))
    assert reply.startswith(b"Error: ") and reply.endswith(b"\n> ")
    assert client.cmd(b"m p x /bin/echo a\x00b").startswith(b"Error: Bad command - ")
    assert client.cmd(b"set k \xff\xfe") == b"\n> "
    assert client.cmd("get k") == b"\xff\xfe\n> "
    still_serving(kernel)


def test_half_closed_connections_still_get_replies(kernel):
    conn = kernel.client()
    conn.send(b"set a 1\nget a\nlist values")  # last line unterminated
    conn.sock.shutdown(socket.SHUT_WR)
    assert conn.read_eof() == b"\n> 1\n> a 1\n> "
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(kernel.address)
    raw.close()  # gone before reading the banner
    watcher = kernel.client()
    watcher.ok(f"m p nap {child('import time; time.sleep(60)')}")
    watcher.send(b"w p nap\n")
    watcher.read_until(b"Watching 1\n")
    watcher.sock.shutdown(socket.SHUT_RDWR)
    still_serving(kernel)


def test_client_that_never_reads(kernel, client):
    hog = kernel.client()
    hog.send(b"help\n" * 20000)  # ~20 MB of replies nobody reads
    still_serving(kernel)
    hog.close()
    wait_for(lambda: b"connections=1" in client.cmd("stats"))


def test_two_hundred_concurrent_clients(make_kernel):
    kernel = make_kernel(tcp=True)
    errors: list[BaseException] = []
    barrier = threading.Barrier(200)

    def work(index: int) -> None:
        try:
            conn = Client(kernel.address, timeout=30)
            barrier.wait(30)
            assert conn.cmd(f"set v{index} {index}") == b"\n> "
            assert conn.cmd(f"get v{index}") == f"{index}\n> ".encode()
            assert conn.cmd("bogus").startswith(b"Error: ")
            conn.send(b"quit\n")
            assert conn.read_eof() == b"ok\n"
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    conn = kernel.client()
    assert len(conn.ok("l v").splitlines()) == 200
    wait_for(lambda: b"connections=1" in conn.cmd("stats"))


def test_no_descriptor_leak(kernel, client):
    def fd_count() -> int:
        return len(os.listdir(f"/proc/{kernel.pid}/fd"))

    baseline = fd_count()
    for round_ in range(3):
        client.ok(f"m s s{round_}")
        client.ok(f"m s u{round_} path={kernel.short}/u{round_}.sock")
        client.ok(f"m p p{round_} {child('import os; os.write(1, b' + repr('x') + ')')}")
        client.send(f"w p p{round_}\n".encode())
        client.read_until(b"\n] ")
        drain_watch(client)
        client.ok("r s *")
        extra = kernel.client()
        extra.close()
    wait_for(lambda: fd_count() == baseline, what=f"fds back to {baseline}")


COMMAND_WORDS = [
    "make", "m", "list", "l", "remove", "r", "watch", "w", "set", "get", "help", "h",
    "stats", "version", "EXIT", "exit-if-idle", "LIST", "Ma", "socket", "s", "processes",
    "p", "values", "v", "q",
]  # fmt: skip
OPTIONS = [
    "family=inet", "family=unix", "family=inet6", "family=x", "type=dgram", "type=raw",
    "port=0", "host=::1", "backlog=-1", "umask=0", "reuseport=1", "interface=lo", "uid=0",
    "gid=0", "bufsize=1k", "output=9g", "stdout=0", "stderr=stdout", "watch=1", "shell=1",
    "env.A=b", "rlimit.nofile=x", "working_dir=.", "=", "a=", '="', 'k="v"', "path=rel",
]  # fmt: skip
WORDS = st.sampled_from(COMMAND_WORDS + OPTIONS + ["*", "a*", "$(socket.a.port)", "\\", "\\ "])
# Junk never contains "/" (so no absolute paths: no files created outside
# papa's cwd) nor a newline (one example is one line).
JUNK = st.binary(max_size=12).map(lambda b: b.replace(b"/", b"").replace(b"\n", b""))
LINES = st.lists(st.one_of(WORDS.map(str.encode), JUNK), max_size=8).map(b" ".join)


def test_random_command_lines(make_kernel, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    # An empty PATH: a random word can never name a program to start.
    kernel = make_kernel(PATH=str(empty))
    conn = kernel.client()
    conn.ok("set keep.\x01 me")  # so a random exit-if-idle never finds papa idle

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(LINES, min_size=1, max_size=5))
    def check(lines: list[bytes]) -> None:
        nonlocal conn
        for line in lines:
            conn.send(line + b"\n")
            reply = conn.read_until_any((b"> ", b"ok\n", b"] ", b"Watching "))
            if reply.endswith(b"ok\n"):
                conn.close()
                conn = kernel.client()
            elif not reply.endswith(b"> "):
                conn.close()  # a watch: drop the connection, data stays unacked
                conn = kernel.client()
            else:
                assert reply == b"> " or reply.endswith(b"\n> "), reply
            assert kernel.proc.poll() is None

    check()
    still_serving(kernel)
    assert field(kernel.client().ok("stats"), "processes") == "0"
