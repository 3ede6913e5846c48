"""The exact bytes our client sends and how it reads replies, against a scripted fake kernel."""

from __future__ import annotations

import resource
import select
import socket
import threading
import time

import papa
import pytest
from papa import _wire

from .conftest import FakeKernel, wait_for

PROCESS_LINE = b"n pid=5 running=True started=1.5 uid=0 shell=True args=/bin/echo a --x=1 b\n> "
SOCKET_LINE = b"s family=inet type=stream backlog=5 host=127.0.0.1 port=43169 fileno=5\n> "


def sent(fake: FakeKernel) -> list[str]:
    return [line for _, line in fake.lines]


def test_command_lines_are_byte_compatible_with_papa_106(fake: FakeKernel) -> None:
    fake.replies.update({
        "m s s1 family=inet6 type=dgram backlog=3 host=::1 port=0 interface=lo reuseport=1":
            SOCKET_LINE,
        "m s u family=unix path=/run/u.sock umask=2": SOCKET_LINE,
    })
    with papa.Papa(fake.path) as client:
        client.make_socket("s1", family=socket.AF_INET6, socket_type=socket.SOCK_DGRAM, port=0,
                           backlog=3, host="::1", interface="lo", reuseport=True)
        client.make_socket("u", family=socket.AF_UNIX, path="/run/u.sock", umask=2)
        fake.replies.update(dict.fromkeys([
            'm p n working_dir=/tmp uid=root gid=0 bufsize=2m stdout=0 stderr=stdout '
            'env.A=x\\ y env.B="ends\\" env.C=a\\ b env.D="" rlimit.nofile=10 rlimit.cpu=3 '
            '/bin/echo one\\ arg',
            "m p n2 stderr=0 /bin/x a\\ b",
        ], PROCESS_LINE))
        client.make_process("n", "/bin/echo", args="one arg",
                            env={"A": "x y", "B": "ends\\", "C": "a\nb", "D": ""},
                            working_dir="/tmp", uid="root", gid=0,
                            rlimits={"nofile": 10, resource.RLIMIT_CPU: 3},
                            stdout=papa.DEVNULL, stderr=papa.STDOUT, bufsize="2m")
        client.make_process("n2", None, args=("/bin/x", "", "a b"), stderr=papa.DEVNULL)
        client.set("k", "v  w\nz")
        client.set("k")
        client.list_values("a*", "b")
        client.list_processes()
        client.remove_processes("x")
        client.remove_sockets("*")
        client.get("z")
        client.exit_if_idle()
    assert sent(fake) == [
        "m s s1 family=inet6 type=dgram backlog=3 host=::1 port=0 interface=lo reuseport=1",
        "m s u family=unix path=/run/u.sock umask=2",
        'm p n working_dir=/tmp uid=root gid=0 bufsize=2m stdout=0 stderr=stdout '
        'env.A=x\\ y env.B="ends\\" env.C=a\\ b env.D="" rlimit.nofile=10 rlimit.cpu=3 '
        '/bin/echo one\\ arg',
        "m p n2 stderr=0 /bin/x a\\ b",
        "set k v\\ \\ w\\ z",
        "set k",
        "l v a* b",
        "l p",
        "r p x",
        "r s *",
        "get z",
        "exit-if-idle",
    ]


def test_reply_lines_parse_like_papa_106(fake: FakeKernel) -> None:
    fake.replies.update({"l s": SOCKET_LINE, "m p n /bin/echo": PROCESS_LINE,
                         "l v": b"a.b hello world\nc x\n> "})
    with papa.Papa(fake.path) as client:
        assert client.list_sockets() == {"s": {
            "family": "inet", "type": "stream", "backlog": 5, "host": "127.0.0.1",
            "port": 43169, "fileno": 5}}
        # args= is last and takes the rest of the line; 1.0.6 split "--x=1" off as a key.
        assert client.make_process("n", "/bin/echo") == {
            "pid": 5, "running": True, "started": 1.5, "uid": "0", "shell": True,
            "args": "/bin/echo a --x=1 b"}
        assert client.list_values() == {"a.b": "hello world", "c": "x"}


def test_error_replies_raise_papa_error(fake: FakeKernel) -> None:
    fake.replies["get boom"] = b"Error: Something broke\n> "
    with papa.Papa(fake.path) as client:
        with pytest.raises(papa.Error) as error:
            client.get("boom")
        assert str(error.value) == "Something broke"
        assert isinstance(error.value, RuntimeError)
        assert client.get("fine") is None


def test_colon_names_are_refused_before_sending(fake: FakeKernel) -> None:
    with papa.Papa(fake.path) as client:
        with pytest.raises(papa.Error, match="cannot contain ':'"):
            client.make_process("web:1", "/bin/true")
        with pytest.raises(papa.Error, match="absolute"):
            client.make_socket("s", path="relative")
    assert sent(fake) == []


BATCH = b"out:x:1.5:3\nabc\nerr:x:1.75:2\nno\n] "


def test_ready_sees_a_batch_already_buffered(fake: FakeKernel) -> None:
    # The kernel sent the watch header and a batch in one write: the client's
    # first recv took both, so the socket has nothing left but data is waiting.
    fake.replies["w p x"] = b"Watching 1\n" + BATCH
    with papa.Papa(fake.path) as client, client.watch_processes("x") as watcher:
        assert select.select([watcher], [], [], 0)[0] == []
        assert watcher.ready is True
        assert watcher.read() == ([papa.ProcessOutput("x", 1.5, b"abc")],
                                  [papa.ProcessOutput("x", 1.75, b"no")], [])


def test_ready_is_false_without_blocking_until_data_arrives(fake: FakeKernel) -> None:
    fake.replies.update({"w p x": b"Watching 1\n", "": b""})
    with papa.Papa(fake.path) as client, client.watch_processes("x") as watcher:
        start = time.monotonic()
        assert watcher.ready is False
        assert time.monotonic() - start < 5  # a blocking ready would wait for data forever
        number = fake.lines[-1][0]
        fake.send(number, b"out:x:1.5:3\nab")  # half a batch
        wait_for(lambda: watcher.ready, 5, "ready")
        fake.send(number, b"c\n] ")
        batch = watcher.read()
        assert batch is not None and batch[0] == [papa.ProcessOutput("x", 1.5, b"abc")]
        assert watcher.ready is False  # the batch awaits its acknowledgement
        watcher.acknowledge()
        wait_for(lambda: fake.lines[-1] == (number, ""), 5, "the ack")
        fake.send(number, b"closed:x:2.5:-15\n] ")
        wait_for(lambda: watcher.ready, 5, "ready")
        assert watcher.read() == ([], [], [papa.ProcessOutput("x", 2.5, -15)])
        assert watcher.exit_code == {"x": -15}
        assert not watcher  # every watched process has closed


def test_end_of_stream_returns_none_and_reuses_the_connection(fake: FakeKernel) -> None:
    fake.replies.update({"w p x": b"Watching 1\nclosed:x:2.5:0\n] ",
                         "": b"Nothing left to watch\n> "})
    with papa.Papa(fake.path) as client:
        watcher = client.watch_processes("x")
        assert watcher.read() == ([], [], [papa.ProcessOutput("x", 2.5, 0)])
        assert not watcher
        assert watcher.read() is None  # acked; the kernel has nothing left
        assert watcher.read() is None
        client.get("k")
        watcher.close()
    assert fake.lines == [(0, "w p x"), (0, ""), (0, "get k")]
    wait_for(lambda: fake.eofs == [0], 5, "the connection to close")


def test_close_with_a_pending_ack_sends_q_and_returns_the_connection(fake: FakeKernel) -> None:
    fake.replies.update({"w p x": b"Watching 2\n" + BATCH, "q": b"Stopped watching\n> "})
    with papa.Papa(fake.path) as client:
        watcher = client.watch_processes("x")
        assert watcher.read() is not None
        assert watcher  # one of two processes has not closed
        watcher.close()
        assert not watcher and watcher.read() is None
        client.get("k")
    assert fake.lines == [(0, "w p x"), (0, "q"), (0, "get k")]


def test_close_without_a_pending_ack_drops_the_connection(fake: FakeKernel) -> None:
    # Sending "q" here could acknowledge a batch already on its way, unseen.
    fake.replies["w p x"] = b"Watching 1\n"
    with papa.Papa(fake.path) as client:
        watcher = client.watch_processes("x")
        watcher.close()
        wait_for(lambda: fake.eofs == [0], 5, "the dropped connection")
        client.get("k")  # a new connection
    assert fake.lines == [(0, "w p x"), (1, "get k")]


def test_watch_and_commands_share_one_papa(fake: FakeKernel) -> None:
    fake.replies["w p x"] = b"Watching 1\n"
    with papa.Papa(fake.path) as client:
        watcher = client.watch_processes("x")
        client.set("k", "v")  # the watcher owns connection 0
        assert fake.lines[-1] == (1, "set k v")
    # Closing the Papa object closed its watcher too.
    assert watcher.fileno() == -1 and not watcher
    wait_for(lambda: sorted(fake.eofs) == [0, 1], 5, "both connections to close")


def test_escaping_and_field_parsing() -> None:
    assert _wire.escape("a b\nc\r\nd") == "a\\ b\\ c\\ d"
    assert _wire.option("k", "ends\\") == 'k="ends\\"'
    assert _wire.parse_sockets("u family=unix path=/a b/c.sock fileno=3")["u"] == {
        "family": "unix", "path": "/a b/c.sock", "fileno": 3}


def test_watch_record_with_colon_in_name(fake: FakeKernel) -> None:
    fake.replies["w p *"] = b"Watching 1\nout:a:b:1.5:2\nhi\n] "
    with papa.Papa(fake.path) as client, client.watch_processes("*") as watcher:
        assert watcher.read() == ([papa.ProcessOutput("a:b", 1.5, b"hi")], [], [])


def test_banner_from_something_else_is_an_error() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH\r\n\n> ")

        thread = threading.Thread(target=answer)
        thread.start()
        with pytest.raises(papa.Error, match="not papa"):
            papa.Papa(port, connection_timeout=5)
        thread.join()
