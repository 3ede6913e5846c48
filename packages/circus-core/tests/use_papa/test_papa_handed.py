"""HandedReader: a socket papa handed over is consumed only as far as it was written."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from circus._papa.handed import PEEK_SIZE, HandedReader

Written = list[tuple[bytes, "float | None"]]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(the reader's end, the writer's end), non-blocking as papa leaves them."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


async def until(predicate: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def reader_for(sock: socket.socket, written: Written,
               prefix: tuple[bytes, float] | None = None) -> HandedReader:
    # The reader closes the socket it is given: give it a copy, keep ours to look at.
    copy = sock.dup()
    reader = HandedReader(copy, lambda data, stamp: written.append((data, stamp)),
                          asyncio.get_running_loop(), prefix)
    reader.start()
    return reader


def left_in(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 20, socket.MSG_PEEK)
    except BlockingIOError:
        return b""


async def test_whole_lines_are_written_and_an_unfinished_line_stays_in_the_socket(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written)
    theirs.sendall(b"one\ntwo\nthr")
    await until(lambda: written, "the whole lines")
    assert written == [(b"one\ntwo\n", None)]
    assert left_in(ours) == b"thr"  # not consumed: papa would read it on
    theirs.sendall(b"ee\n")
    await until(lambda: len(written) == 2, "the rest of the line")
    assert written[1] == (b"three\n", None)
    assert left_in(ours) == b""
    reader.stop()


async def test_stop_consumes_nothing_more_and_returns_the_line_start(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written, prefix=(b"begun in a record ", 12.5))
    theirs.sendall(b"no newline yet")
    await asyncio.sleep(0.01)
    returned = reader.stop()
    assert written == [] and reader.closed
    # Whatever the reader consumed it returns (a stalled line is taken in after ~60 ms).
    assert returned is not None and returned[1] == 12.5
    assert returned[0] + left_in(ours) == b"begun in a record no newline yet"


async def test_a_stalled_line_is_taken_in_so_a_blocked_writer_goes_on(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written)
    theirs.sendall(b"half a li")
    await until(lambda: left_in(ours) == b"", "the stalled line to be taken in")
    assert written == []
    theirs.sendall(b"ne\n")
    await until(lambda: written, "the line")
    assert written[0][0] == b"half a line\n" and written[0][1] is not None
    reader.stop()


async def test_the_prefix_starts_the_first_line_with_its_timestamp(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written, prefix=(b"hel", 7.0))
    theirs.sendall(b"lo\n")
    await until(lambda: written, "the line")
    assert written == [(b"hello\n", 7.0)]
    reader.stop()


async def test_eof_writes_the_unfinished_line_and_closes(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written)
    theirs.sendall(b"a\nlast words")
    theirs.close()
    assert await reader.wait_closed(5)
    assert b"".join(data for data, _ in written) == b"a\nlast words"


async def test_a_line_longer_than_a_peek_is_written_in_pieces(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written)
    theirs.setblocking(False)
    big = b"x" * (PEEK_SIZE + 10) + b"\n"
    sent = 0
    while sent < len(big):
        try:
            sent += theirs.send(big[sent:])
        except BlockingIOError:
            await asyncio.sleep(0.001)
    await until(lambda: sum(len(data) for data, _ in written) == len(big), "the long line")
    assert b"".join(data for data, _ in written) == big
    reader.stop()


async def test_a_line_longer_than_a_first_look_is_still_written_whole(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # The reader first looks at 256 KiB; a line longer than that but shorter
    # than a peek must still arrive in one piece, the next unfinished line left.
    ours, theirs = pair
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2 * PEEK_SIZE)
    theirs.setblocking(False)
    line = b"y" * (PEEK_SIZE * 3 // 5) + b"\n"
    written: Written = []
    reader = reader_for(ours, written)
    data = b"short\n" + line + b"next, unfinished"
    sent = 0
    while sent < len(data):
        try:
            sent += theirs.send(data[sent:])
        except BlockingIOError:  # the system capped the buffer: the reader makes room
            await asyncio.sleep(0.001)
    await until(lambda: sum(len(data) for data, _ in written) >= len(line) + 6, "the long line")
    assert line in [chunk[-len(line):] for chunk, _ in written]
    assert b"".join(chunk for chunk, _ in written) == b"short\n" + line
    assert left_in(ours) == b"next, unfinished"
    reader.stop()


async def test_finish_takes_all_there_is(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    written: Written = []
    reader = reader_for(ours, written)
    theirs.sendall(b"x\npartial")
    await until(lambda: written, "the whole line")
    reader.finish()
    assert b"".join(data for data, _ in written) == b"x\npartial"
    assert left_in(ours) == b"" and reader.closed
