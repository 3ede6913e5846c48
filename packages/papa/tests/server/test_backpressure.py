"""``make process ... backpressure=1``: a full buffer blocks the writer, nothing is dropped."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .conftest import NOTHING_LEFT, Client, drain_watch, esc, field, wait_for
from .test_watch import exited, records

LINE = 50  # bytes per numbered line, newline included
# Well past what the pipe can hold, even once the kernel has enlarged it to 1 MiB.
LINES = 80_000


def writer(done: Path) -> str:
    """A command writing LINES numbered lines flat out, then creating ``done``."""
    script = done.with_name("writer.py")
    script.write_text(
        "import os\n"
        f"pad = b'.' * {LINE - 11}\n"
        f"data = b''.join(b'%09d ' % i + pad + b'\\n' for i in range({LINES}))\n"
        "view = memoryview(data)\n"
        "while view:\n"
        "    view = view[os.write(1, view[:1 << 16]):]\n"
        f"open({str(done)!r}, 'w').close()\n"
    )
    return f"{esc(sys.executable)} {esc(str(script))}"


def expected() -> bytes:
    pad = b"." * (LINE - 11)
    return b"".join(b"%09d " % i + pad + b"\n" for i in range(LINES))


def buffered(client: Client) -> int:
    return int(field(client.cmd("stats"), "buffered"))


def watch_everything(client: Client, name: str) -> tuple[bytes, bytes]:
    """Watch ``name`` to the end; return its output and its batches' closed record."""
    client.send(f"w p {name}\n".encode())
    client.read_until(b"Watching 1\n")
    batches = client.read_until(b"\n] ") + drain_watch(client, timeout=30)
    closed = re.findall(rb"closed:" + name.encode() + rb":[\d.]+:(-?\d+)", batches)
    return b"".join(data for _, data in records(batches)), b",".join(closed)


def test_full_buffer_blocks_the_writer_and_nothing_is_lost(kernel, client, tmp_path):
    done = tmp_path / "done"
    client.ok(f"m p fast bufsize=4k backpressure=1 {writer(done)}")
    # Nobody watches: the buffer fills, then the kernel stops reading.
    wait_for(lambda: buffered(client) >= 4096, what="the buffer to fill")
    watcher = kernel.client()
    watcher.send(b"w p fast\n")
    watcher.read_until(b"Watching 1\n")
    assert records(watcher.read_until(b"\n] "))
    # The writer is stuck on its full pipe while the batch waits for its ack:
    # held back are at most the buffer and one read (a whole pipe).
    assert not done.exists()
    assert b"running=True" in client.cmd("l p fast")
    assert buffered(client) <= 4096 + (1 << 20)
    watcher.close()  # gone without acking: the next watcher gets it all again
    wait_for(lambda: b"watchers=0" in client.cmd("stats"), what="the watcher to go")
    data, closed = watch_everything(client, "fast")
    assert data == expected()
    assert closed == b"0"
    assert done.exists()
    assert client.cmd("l p fast") == b"\n> "  # its exit was acknowledged


def test_slow_watcher_gets_every_line_once_in_order(kernel, client, tmp_path):
    done = tmp_path / "done"
    client.ok(f"m p fast bufsize=16k backpressure=1 {writer(done)}")
    client.send(b"w p fast\n")
    client.read_until(b"Watching 1\n")
    batches = b""
    biggest = 0
    while True:
        batch = client.read_until_any((b"\n] ", NOTHING_LEFT), timeout=30)
        if batch == NOTHING_LEFT:
            break
        batches += batch
        # A batch carries at most the buffer plus the read that filled it.
        biggest = max(biggest, sum(len(data) for _, data in records(batch)))
        client.send(b"\n")
    lines = b"".join(data for _, data in records(batches)).split(b"\n")
    assert lines.pop() == b""
    assert [int(line[:9]) for line in lines] == list(range(LINES))
    assert all(len(line) == LINE - 1 for line in lines)
    assert re.search(rb"closed:fast:[\d.]+:0\n\] $", batches)
    assert biggest <= 16384 + (1 << 20)


def test_without_backpressure_the_oldest_output_is_dropped(kernel, client, tmp_path):
    """papa 1.0.6's behaviour is kept: the writer never blocks, old output goes."""
    done = tmp_path / "done"
    client.ok(f"m p fast bufsize=4k {writer(done)}")
    wait_for(exited(client, "fast"), timeout=30, what="the writer to finish unwatched")
    assert done.exists()
    data, closed = watch_everything(client, "fast")
    assert closed == b"0"
    assert 0 < len(data) < len(expected())
    assert expected().endswith(data)  # the newest chunks, whole


def test_remove_processes_unblocks_a_paused_writer(kernel, client, tmp_path):
    done = tmp_path / "done"
    client.ok(f"m p fast bufsize=4k backpressure=1 {writer(done)}")
    wait_for(lambda: buffered(client) >= 4096, what="the buffer to fill")
    assert not done.exists()
    # Nobody will read it any more: the kernel reads and discards the rest.
    client.ok("r p fast")
    wait_for(done.exists, timeout=30, what="the writer to finish")
    wait_for(lambda: client.cmd("l p") == b"\n> ", what="the process to leave the list")
    assert buffered(client) == 0


def test_backpressure_value_is_checked(client):
    assert client.cmd("m p x backpressure=maybe /bin/true") == (
        b'Error: Bad value for "backpressure": maybe\n> '
    )
    assert b"backpressure=1" in client.cmd("help make process")
