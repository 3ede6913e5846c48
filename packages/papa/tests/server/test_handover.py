"""``make process ... handover=1`` and ``watch processes handover=1`` (ours).

The watcher gets the process's output sockets and reads them itself; papa
reads on from the first byte the watcher did not consume once the watch
connection ends. Driven through the papa client, which receives the
descriptors (SCM_RIGHTS).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from pathlib import Path

import papa
import pytest

from .conftest import wait_for


def script(tmp_path: Path, name: str, body: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return [str(path)]


def read_records(watcher: papa.Watcher) -> tuple[bytes, list[int]]:
    """Read batches until the exit record; return the stdout bytes and the exit codes."""
    data, codes = b"", list[int]()
    while not codes:
        batch = watcher.read()
        assert batch is not None
        out, _, closed = batch
        data += b"".join(record.data for record in out)  # type: ignore[misc]
        codes += [int(record.data) for record in closed]
    return data, codes


def receive(sock: socket.socket, size: int = 1 << 16, flags: int = 0) -> bytes:
    """One receive on a handed-over socket (non-blocking, as papa set it), waiting for data."""
    assert select.select([sock], [], [], 10)[0], "no output from the handed-over socket"
    return sock.recv(size, flags)


def close_all(handovers: list[papa.Handover]) -> None:
    for handover in handovers:
        for sock in (handover.stdout, handover.stderr):
            if sock is not None:
                sock.close()


def cut(watcher: papa.Watcher) -> None:
    """Break the watch connection as a watcher that dies would (no ``q``, no ack)."""
    with socket.fromfd(watcher.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := receive(sock):
        data += chunk
    return data


def test_the_watcher_reads_the_sockets_and_the_exit_comes_after(kernel, tmp_path):
    go = tmp_path / "go"
    body = ("import os, stat, sys, time\n"
            "print('before', flush=True)\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
            "kind = 'socket' if stat.S_ISSOCK(os.fstat(1).st_mode) else 'other'\n"
            "print('after', kind, flush=True)\n"
            "print('oops', file=sys.stderr, flush=True)\n")
    with papa.Papa(kernel.address) as client:
        client.make_process("h", sys.executable, args=script(tmp_path, "h", body),
                            handover=True)
        wait_for(lambda: client.list_processes("h")["h"]["running"], what="h to run")
        with client.watch_processes("h", handover=True) as watcher:
            # What papa captured before the handover comes as records, in that batch.
            data = b""
            while not watcher.handovers:
                batch = watcher.read()
                assert batch is not None
                data += b"".join(record.data for record in batch[0])  # type: ignore[misc]
            assert data in (b"", b"before\n")
            (handover,) = watcher.handovers
            assert handover.name == "h" and handover.stdout and handover.stderr
            go.touch()
            data += read_to_eof(handover.stdout)
            assert data == b"before\nafter socket\n"
            assert read_to_eof(handover.stderr) == b"oops\n"
            handover.stdout.close()
            handover.stderr.close()
            batch = watcher.read()
            assert batch is not None and [r.data for r in batch[2]] == [0]
        wait_for(lambda: not client.list_processes("h"), what="h to leave papa's table")


def test_papa_reads_on_from_the_first_byte_not_consumed(kernel, tmp_path):
    go = tmp_path / "go"
    body = ("import os, time\n"
            "os.write(1, b'one\\ntwo\\nthr')\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
            "os.write(1, b'ee\\nfour\\n')\n")
    with papa.Papa(kernel.address) as client:
        client.make_process("t", sys.executable, args=script(tmp_path, "t", body),
                            handover=True)
        with client.watch_processes("t", handover=True) as watcher:
            while not watcher.handovers:
                batch = watcher.read()
                assert batch is not None and not batch[0], "output came as records"
            sock = watcher.handovers[0].stdout
            assert sock is not None
            wait_for(lambda: receive(sock, 64, socket.MSG_PEEK) == b"one\ntwo\nthr",
                     what="the first output")
            assert sock.recv(4) == b"one\n"  # consumed: written; the rest is not
            close_all(watcher.handovers)
            cut(watcher)
        # The watch connection is gone: papa reads again, from "two".
        go.touch()
        with client.watch_processes("t") as watcher:
            data, codes = read_records(watcher)
        assert (data, codes) == (b"two\nthree\nfour\n", [0])


def test_an_exit_while_handed_over_keeps_the_output_for_the_next_watcher(kernel, tmp_path):
    body = "import os\nos.write(1, b'last words\\n')\n"
    with papa.Papa(kernel.address) as client:
        client.make_process("x", sys.executable, args=script(tmp_path, "x", body),
                            handover=True)
        with client.watch_processes("x", handover=True) as watcher:
            exited = False
            handovers: list[papa.Handover] = []
            while not exited:
                batch = watcher.read()
                assert batch is not None
                handovers += watcher.handovers
                exited = bool(batch[2])
            assert handovers
            # The exit arrived, but the watcher leaves without reading or acking.
            close_all(handovers)
            cut(watcher)
        with client.watch_processes("x") as watcher:
            data, codes = read_records(watcher)
        assert (data, codes) == (b"last words\n", [0])


def test_held_sockets_are_closed_once_the_exit_is_acknowledged(kernel, tmp_path):
    fds = Path(f"/proc/{kernel.pid}/fd")
    with papa.Papa(kernel.address) as client:
        client.version()
        before = len(os.listdir(fds))
        client.make_process("q", sys.executable, args=["-c", "print('hi')"], handover=True)
        with client.watch_processes("q", handover=True) as watcher:
            received = b""
            codes: list[object] = []
            while not codes:
                batch = watcher.read()
                assert batch is not None
                codes += [record.data for record in batch[2]]
                for handover in watcher.handovers:
                    assert handover.stdout is not None and handover.stderr is not None
                    received += read_to_eof(handover.stdout)
                    handover.stdout.close()
                    handover.stderr.close()
            watcher.acknowledge()
            assert (received, codes) == (b"hi\n", [0])
            wait_for(lambda: not client.list_processes("q"), what="q to leave papa's table")
        # The watch connection went back to the client: it holds as many as before.
        wait_for(lambda: len(os.listdir(fds)) <= before, what="papa to close the sockets")


def test_a_plain_watch_of_a_handover_process_gets_records(kernel, tmp_path):
    with papa.Papa(kernel.address) as client:
        client.make_process("p", sys.executable, args=["-c", "print('plain')"], handover=True)
        with client.watch_processes("p") as watcher:
            data, codes = read_records(watcher)
            assert not watcher.handovers
        assert (data, codes) == (b"plain\n", [0])


def test_handover_needs_a_unix_socket(make_kernel):
    kernel = make_kernel(tcp=True)
    with papa.Papa(kernel.address[1]) as client:
        client.make_process("n", sys.executable, args=["-c", "print(1)"], handover=True)
        with pytest.raises(papa.Error, match="handover=1 needs a unix socket"):
            client.watch_processes("n", handover=True)
        with client.watch_processes("n") as watcher:
            assert read_records(watcher) == (b"1\n", [0])


def test_the_child_end_is_a_socket_only_with_handover(kernel, tmp_path):
    code = ("import os, stat; "
            "print('sock' if stat.S_ISSOCK(os.fstat(1).st_mode) else 'pipe', flush=True)")
    with papa.Papa(kernel.address) as client:
        client.make_process("s1", sys.executable, args=["-c", code], handover=True)
        client.make_process("s2", sys.executable, args=["-c", code])
        for name, kind in (("s1", b"sock\n"), ("s2", b"pipe\n")):
            with client.watch_processes(name) as watcher:
                assert read_records(watcher) == (kind, [0])


def test_many_exits_at_once_are_read_cleanly(kernel, tmp_path):
    """40 processes killed at once: every exit is reported, and the kernel log stays
    free of tracebacks (checked by the fixture). An exit's drain may close sockets
    whose own events are already in the same select() round: those are stale."""
    with papa.Papa(kernel.address) as client:
        pids = [client.make_process(f"m{i}", sys.executable,
                                    args=["-c", "import time; print('up', flush=True); "
                                          "time.sleep(60)"], handover=True)["pid"]
                for i in range(40)]
        wait_for(lambda: len(client.list_processes("m*")) == 40, what="40 processes")
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(entry["running"]
                                 for entry in client.list_processes("m*").values()),
                 what="40 exits")
        with client.watch_processes("m*") as watcher:
            closed: list[object] = []
            while len(closed) < 40:
                batch = watcher.read()
                assert batch is not None
                closed += [record.data for record in batch[2]]
        assert closed == [-signal.SIGKILL] * 40


def test_a_kept_watch_takes_processes_made_later(kernel, tmp_path):
    """``watch processes keep=1``: ``+NAME`` adds a process (a new one under an old name
    too), acknowledges nothing, and the watch outlives its processes."""
    with papa.Papa(kernel.address) as client:
        client.make_process("k1", sys.executable, args=["-c", "print('one')"])
        with client.watch_processes("k1", keep=True) as watcher:
            assert read_records(watcher) == (b"one\n", [0])
            watcher.acknowledge()
            wait_for(lambda: not client.list_processes("k1"), what="k1 to leave the table")
            # Nothing left, yet the watch goes on: no "Nothing left to watch".
            assert not select.select([watcher.fileno()], [], [], 0.2)[0]
            for name, word in (("k2", "two"), ("k1", "again")):
                client.make_process(name, sys.executable, args=["-c", f"print('{word}')"])
                watcher.add(name)
                assert read_records(watcher) == (f"{word}\n".encode(), [0])
                watcher.acknowledge()
