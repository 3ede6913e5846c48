"""PipeReader: line alignment, EOF, close() and sink failures, on real pipes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable

import pytest
from circus.stream import PipeReader, StreamMessage

# Shapes of the conftest fixtures.
Spawn = Callable[[str], tuple["subprocess.Popen[bytes]", int]]
Eventually = Callable[[Callable[[], bool], float], Awaitable[None]]


class Collector:
    """A sink recording every chunk it receives."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def __call__(self, data: StreamMessage) -> None:
        assert isinstance(data["data"], bytes)
        self.chunks.append(data["data"])

    @property
    def joined(self) -> bytes:
        return b"".join(self.chunks)


def test_partial_lines_are_joined(eventually: Eventually) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        sink = Collector()
        closed: list[PipeReader] = []
        reader = PipeReader(
            read_fd, pid=5, name="stderr", sink=sink, loop=loop, on_closed=closed.append
        )
        reader.start()
        try:
            os.write(write_fd, b"hel")
            os.write(write_fd, b"lo\nwor")
            await eventually(lambda: sink.chunks == [b"hello\n"], 5)
            os.write(write_fd, b"ld\nfoo\nbar\nba")
            await eventually(lambda: len(sink.chunks) == 2, 5)
            assert sink.chunks[1] == b"world\nfoo\nbar\n"
            os.write(write_fd, b"z\n")
            await eventually(lambda: len(sink.chunks) == 3, 5)
            assert sink.chunks[2] == b"baz\n"
        finally:
            os.close(write_fd)
        assert await reader.wait_closed(timeout=5)
        assert reader.closed and closed == [reader]
        assert all(chunk.endswith(b"\n") for chunk in sink.chunks)

    asyncio.run(main())


def test_sink_receives_pid_and_name() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        seen: list[StreamMessage] = []
        reader = PipeReader(read_fd, pid=77, name="stdout", sink=seen.append, loop=loop)
        reader.start()
        os.write(write_fd, b"x\n")
        os.close(write_fd)
        assert await reader.wait_closed(timeout=5)
        assert seen == [{"pid": 77, "name": "stdout", "data": b"x\n"}]

    asyncio.run(main())


def test_last_line_without_newline_is_delivered_at_eof(spawn_python: Spawn) -> None:
    async def main() -> None:
        proc, fd = spawn_python("import sys; sys.stdout.write('one\\ntwo\\nlast words')")
        sink = Collector()
        reader = PipeReader(
            fd, pid=proc.pid, name="stdout", sink=sink, loop=asyncio.get_running_loop()
        )
        reader.start()
        assert await reader.wait_closed(timeout=10)
        assert sink.joined == b"one\ntwo\nlast words"
        assert sink.chunks[-1].endswith(b"last words")

    asyncio.run(main())


def test_killed_process_keeps_its_last_output(spawn_python: Spawn, eventually: Eventually) -> None:
    code = (
        "import sys, time; o = sys.stdout.buffer; o.write(b'line 1\\nline 2\\nhalf a li');"
        " o.flush(); time.sleep(60)"
    )

    async def main() -> None:
        proc, fd = spawn_python(code)
        sink = Collector()
        reader = PipeReader(
            fd, pid=proc.pid, name="stdout", sink=sink, loop=asyncio.get_running_loop()
        )
        reader.start()
        await eventually(lambda: sink.joined == b"line 1\nline 2\n", 10)
        await asyncio.sleep(0)  # the partial line stays buffered while the process lives
        assert sink.joined == b"line 1\nline 2\n"
        proc.send_signal(signal.SIGKILL)
        assert await reader.wait_closed(timeout=10)
        assert sink.joined == b"line 1\nline 2\nhalf a li"

    asyncio.run(main())


def test_killed_mid_stream_loses_no_complete_line(
    spawn_python: Spawn, eventually: Eventually
) -> None:
    code = (
        "import itertools, sys; w = sys.stdout.buffer.write;"
        " [w(b'%d %s\\n' % (i, b'y' * (i % 50))) for i in itertools.count()]"
    )

    async def main() -> None:
        proc, fd = spawn_python(code)
        sink = Collector()
        reader = PipeReader(
            fd, pid=proc.pid, name="stdout", sink=sink, loop=asyncio.get_running_loop()
        )
        reader.start()
        # Wait for lines, not chunks: on a loaded machine reads return parts of
        # the child's 8 KiB writes, so five chunks may hold few lines.
        await eventually(lambda: sink.joined.count(b"\n") > 100, 10)
        proc.kill()
        assert await reader.wait_closed(timeout=10)
        lines = sink.joined.split(b"\n")
        tail = lines.pop()  # "" or the half-written last line
        assert len(lines) > 100
        for number, line in enumerate(lines):
            assert line == b"%d %s" % (number, b"y" * (number % 50))
        expected_next = b"%d %s\n" % (len(lines), b"y" * (len(lines) % 50))
        assert expected_next.startswith(tail)

    asyncio.run(main())


def test_very_long_line_is_flushed_in_pieces(spawn_python: Spawn, eventually: Eventually) -> None:
    size = 3 * 1024 * 1024
    code = (
        f"import sys, time; o = sys.stdout.buffer; o.write(b'z' * {size}); o.flush();"
        " time.sleep(60)"
    )

    async def main() -> None:
        proc, fd = spawn_python(code)
        sink = Collector()
        reader = PipeReader(
            fd, pid=proc.pid, name="stdout", sink=sink, loop=asyncio.get_running_loop()
        )
        reader.start()
        # Delivered while the writer is still alive: the tail may not grow without bound.
        await eventually(lambda: len(sink.joined) > 2 * 1024 * 1024, 10)
        assert all(len(chunk) > 1024 * 1024 for chunk in sink.chunks)
        proc.kill()
        assert await reader.wait_closed(timeout=10)
        assert sink.joined == b"z" * size

    asyncio.run(main())


def test_close_flushes_what_is_available(spawn_python: Spawn, eventually: Eventually) -> None:
    code = "import sys, time; o = sys.stdout.buffer; o.write(b'a\\nb'); o.flush(); time.sleep(60)"

    async def main() -> None:
        proc, fd = spawn_python(code)
        sink = Collector()
        closed: list[PipeReader] = []
        reader = PipeReader(
            fd,
            pid=proc.pid,
            name="stdout",
            sink=sink,
            loop=asyncio.get_running_loop(),
            on_closed=closed.append,
        )
        reader.start()
        await eventually(lambda: sink.joined == b"a\n", 10)
        assert not await reader.wait_closed(timeout=0.01)
        reader.close()
        assert reader.closed and closed == [reader]
        assert sink.joined == b"a\nb"
        assert await reader.wait_closed(timeout=0)
        reader.close()  # idempotent
        assert closed == [reader]

    asyncio.run(main())


def test_close_before_start_reads_pending_data() -> None:
    async def main() -> None:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, b"pending\nbytes")
        sink = Collector()
        reader = PipeReader(
            read_fd, pid=1, name="stdout", sink=sink, loop=asyncio.get_running_loop()
        )
        reader.close()
        os.close(write_fd)
        assert sink.joined == b"pending\nbytes"
        with pytest.raises(RuntimeError):
            reader.start()

    asyncio.run(main())


def test_sink_errors_are_logged_and_reading_goes_on(
    caplog: pytest.LogCaptureFixture, eventually: Eventually
) -> None:
    received: list[bytes] = []

    def flaky(data: StreamMessage) -> None:
        if not received:
            received.append(b"")
            raise OSError("disk full")
        received.append(data["data"])

    async def main() -> None:
        read_fd, write_fd = os.pipe()
        reader = PipeReader(
            read_fd, pid=3, name="stdout", sink=flaky, loop=asyncio.get_running_loop()
        )
        reader.start()
        os.write(write_fd, b"lost\n")
        await eventually(lambda: len(received) == 1, 5)
        os.write(write_fd, b"kept\n")
        os.close(write_fd)
        assert await reader.wait_closed(timeout=5)
        assert received == [b"", b"kept\n"]

    with caplog.at_level(logging.ERROR, logger="circus"):
        asyncio.run(main())
    records = [r for r in caplog.records if r.name == "circus"]
    assert len(records) == 1 and "disk full" in (records[0].exc_text or "")


def test_on_closed_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(reader: PipeReader) -> None:
        raise RuntimeError("callback broke")

    async def main() -> None:
        read_fd, write_fd = os.pipe()
        reader = PipeReader(
            read_fd,
            pid=3,
            name="stdout",
            sink=Collector(),
            loop=asyncio.get_running_loop(),
            on_closed=broken,
        )
        reader.start()
        os.close(write_fd)
        assert await reader.wait_closed(timeout=5)

    with caplog.at_level(logging.ERROR, logger="circus"):
        asyncio.run(main())
    assert any("callback broke" in (r.exc_text or "") for r in caplog.records)


def test_pipe_enlargement_shares_one_budget() -> None:
    """Only the first pipes get 1 MiB; the rest keep the default until budget frees up."""
    import fcntl

    get_size = getattr(fcntl, "F_GETPIPE_SZ", 1032)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pipes = [os.pipe() for _ in range(40)]
        readers = [PipeReader(r, pid=1, name="stdout", sink=lambda d: None, loop=loop)
                   for r, _ in pipes]
        try:
            for reader in readers:
                reader.start()
            sizes = [fcntl.fcntl(r, get_size) for r, _ in pipes]
            assert sizes.count(1 << 20) == 32  # 32 MiB of enlarged capacity at most
            assert all(size < 1 << 20 for size in sizes[32:])
            readers[0].close()
            extra_r, extra_w = os.pipe()
            extra = PipeReader(extra_r, pid=1, name="stdout", sink=lambda d: None, loop=loop)
            extra.start()
            assert fcntl.fcntl(extra_r, get_size) == 1 << 20  # the freed share is reused
            extra.close()
            os.close(extra_w)
        finally:
            for reader in readers:
                reader.close()
            for _, w in pipes:
                os.close(w)

    asyncio.run(main())
