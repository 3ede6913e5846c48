"""The watch sub-protocol: acks, re-delivery, buffer limits and latency."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from .conftest import NOTHING_LEFT, TS, Client, child, drain_watch, wait_for

RECORD = re.compile(rb"(out|err):([^:]+):(\d+\.\d+):(\d+)\n")


def records(batches: bytes) -> list[tuple[bytes, bytes]]:
    """Parse out/err records of joined batches into (kind, data) pairs."""
    found, pos = [], 0
    while (match := RECORD.search(batches, pos)) is not None:
        start = match.end()
        length = int(match[4])
        found.append((match[1], batches[start : start + length]))
        pos = start + length
    return found


def exited(client: Client, name: str) -> Callable[[], bool]:
    return lambda: b"running=False" in client.cmd(f"l p {name}")


def test_closed_record_kept_until_acked_and_redelivered(kernel, client):
    client.ok("m p one /bin/echo hi")
    wait_for(exited(client, "one"))
    watcher = kernel.client()
    first = watcher.cmd_watch("w p one")
    watcher.close()  # gone without acking
    wait_for(lambda: client.cmd("stats").count(b"watchers=0") == 1)
    assert b"one pid=" in client.cmd("l p")
    again = kernel.client()
    assert again.cmd_watch("w p one") == first
    assert again.cmd("") == NOTHING_LEFT
    assert client.cmd("l p") == b"\n> "
    assert again.cmd("w p one") == b"Error: one not found\n> "


def test_q_acks_and_stops(kernel, client):
    slow = child("import os,time; os.write(1,b'x'); time.sleep(60)")
    client.ok(f"m p slow {slow}")
    assert re.fullmatch(
        rb"Watching 1\nout:slow:" + TS + rb":1\nx\n\] ", client.cmd_watch("w p slow")
    )
    assert client.cmd("Q") == b"Stopped watching\n> "
    assert client.cmd("version").startswith(b"version=")
    # The acked chunk is gone: a new watch gets only "Watching 1" for now.
    client.send(b"w p slow\n")
    assert client.read_until(b"Watching 1\n") == b"Watching 1\n"
    assert client.cmd("q") == b"Stopped watching\n> "


def test_output_in_order_once(kernel, client):
    script = child(
        "import os,time; [(os.write(1, b'%d,' % i), time.sleep(0.005)) for i in range(20)]"
    )
    client.ok(f"m p seq {script}")
    client.send(b"w p seq\n")
    client.read_until(b"Watching 1\n")
    batches = client.read_until(b"\n] ") + drain_watch(client)
    data = b"".join(d for _, d in records(batches))
    assert data == b"".join(b"%d," % i for i in range(20))
    assert re.search(rb"closed:seq:" + TS + rb":0\n\] $", batches)


def test_stdout_stderr_options(client):
    both = "import os; os.write(1,b'o'); os.write(2,b'e')"
    client.ok(f"m p merged stderr=stdout {child(both)}")
    client.ok(f"m p noout stdout=0 {child(both)}")
    client.ok(f"m p noerr stderr=0 {child(both)}")
    client.ok(f"m p nothing bufsize=0 {child(both)}")
    got = {}
    for name in ("merged", "noout", "noerr", "nothing"):
        client.send(f"w p {name}\n".encode())
        client.read_until(b"Watching 1\n")
        got[name] = sorted(records(client.read_until(b"\n] ") + drain_watch(client)))
    # Merged stderr arrives as "out"; the two writes may share one read.
    assert {kind for kind, _ in got.pop("merged")} == {b"out"}
    assert got == {
        "noout": [(b"err", b"e")],
        "noerr": [(b"out", b"o")],
        "nothing": [],
    }


def test_bufsize_overflow_drops_oldest_whole_chunks(client):
    script = child(
        "import os,time; [(os.write(1, b'%04d' % i + b'.' * 95 + b'\\\\n'), time.sleep(0.002))"
        " for i in range(50)]"
    )
    client.ok(f"m p flood bufsize=1k {script}")
    wait_for(exited(client, "flood"))
    client.send(b"w p flood\n")
    client.read_until(b"Watching 1\n")
    chunks = [d for _, d in records(client.read_until(b"\n] "))]
    assert client.cmd("") == NOTHING_LEFT
    data = b"".join(chunks)
    assert 0 < len(data) <= 1024
    lines = data.split(b"\n")[:-1]
    assert all(len(line) == 99 for line in lines)  # whole chunks only
    numbers = [int(line[:4]) for line in lines]
    assert numbers == list(range(50 - len(numbers), 50))  # the newest ones survive


def test_single_chunk_larger_than_bufsize_is_kept_whole(client):
    big = child("import os; os.write(1, b'z' * 5000)")
    client.ok(f"m p big bufsize=1k {big}")
    wait_for(exited(client, "big"))
    client.send(b"w p big\n")
    client.read_until(b"Watching 1\n")
    data = b"".join(d for _, d in records(client.read_until(b"\n] ")))
    assert data == b"z" * 5000


def test_latency_from_write_to_watcher(client):
    # The child writes its own clock, so the watcher can measure the delay.
    # Each stamp ends with a newline: on a busy machine two writes can reach the
    # kernel's pipe read together and come out as one record.
    script = child(
        "import os,time; [(os.write(1, repr(time.time()).encode() + b'\\n'), time.sleep(0.05))"
        " for i in range(30)]"
    )
    client.ok(f"m p clock {script}")
    client.send(b"w p clock\n")
    client.read_until(b"Watching 1\n")
    delays: list[float] = []
    while len(delays) < 25:
        batch = client.read_until_any((b"\n] ", NOTHING_LEFT))
        if batch.endswith(NOTHING_LEFT):
            break
        received = time.time()
        stamps = [float(s) for _, d in records(batch) for s in d.split()]
        delays += [received - stamp for stamp in stamps]
        client.send(b"\n")
    assert len(delays) >= 25, delays
    worst = max(delays)
    print(f"latency p50={statistics.median(delays) * 1000:.2f} ms max={worst * 1000:.2f} ms")
    # The 50 ms target is checked by the bench (papa-latency, `make bench-check`);
    # here each record must be pushed as it is written: collected at the
    # writer's exit (it writes for 1.5 s) they would be 0.75 s late on average.
    assert statistics.median(delays) < 0.3


def test_first_record_over_tcp_is_not_held_back(make_kernel):
    """Over TCP the first record right after ``Watching`` arrives at once (no Nagle delay)."""
    kernel = make_kernel(tcp=True)
    client = kernel.client()
    script = child("import os,time; os.write(1, repr(time.time()).encode())")
    delays = []
    # Nagle would hold every record until the client's delayed ACK, about 40 ms;
    # without it one of these tries arrives in well under that, even on a busy machine.
    for attempt in range(20):
        client.send(f"m p first{attempt} watch=1 {script}\n".encode())
        batch = client.read_until_any((b"\n] ",))
        received = time.time()
        delays.append(received - float(next(d for _, d in records(batch))))
        drain_watch(client)  # ack until "Nothing left to watch"
        if delays[-1] < 0.02:
            break
    assert min(delays) < 0.02, delays


def test_default_buffer_keeps_two_mebibytes(client):
    """Unwatched output up to 2 MiB is kept whole (papa 1.0.6 kept only 1 MiB)."""
    size = 3 << 19  # 1.5 MiB
    # Blocking pipe writes of 64 KiB are written whole.
    script = child(f"import os; [os.write(1, b'x' * 65536) for _ in range({size >> 16})]")
    client.ok(f"m p big {script}")
    wait_for(exited(client, "big"), what="the writer to exit")
    batches = client.cmd_watch("w p big") + drain_watch(client)
    received = sum(len(data) for _, data in records(batches))
    assert received == size


def test_batch_of_thousands_of_small_chunks_arrives_whole(client):
    """A batch holding more records than one gathered send takes (IOV_MAX) goes out whole."""
    script = child(
        "import os,time; [(os.write(1, b'%d,' % i), time.sleep(0.0002)) for i in range(3000)]"
    )
    client.ok(f"m p tiny {script}")
    wait_for(exited(client, "tiny"), timeout=30, what="the writer to exit")
    batches = client.cmd_watch("w p tiny") + drain_watch(client)
    chunks = [data for _, data in records(batches)]
    assert b"".join(chunks) == b"".join(b"%d," % i for i in range(3000))
