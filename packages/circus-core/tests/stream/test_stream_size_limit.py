"""FileStream ``max_bytes``: no file grows past it, lines are never torn, nothing is lost."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from circus.stream import FileStream, PipeReader, StreamMessage

Spawn = Callable[[str], tuple["subprocess.Popen[bytes]", int]]

PREFIX = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d+\] \| ")
LINE_PREFIX = re.compile(rb"(?m)^" + PREFIX.pattern)
PREFIX_TIME = re.compile(rb"(?m)^\d\d:\d\d:\d\d \[7\] \| ")


def msg(data: bytes, pid: int = 42) -> StreamMessage:
    return {"pid": pid, "name": "stdout", "data": data}


def numbered(count: int, width: int = 30) -> list[bytes]:
    """``count`` distinct lines of exactly ``width`` bytes, newline included."""
    return [b"line %04d " % i + b"x" * (width - 11) + b"\n" for i in range(count)]


def files_oldest_first(path: Path) -> list[Path]:
    """``app.log.N`` … ``app.log.1``, then ``app.log``: the order they were written."""
    backups = sorted(
        path.parent.glob(path.name + ".*"), key=lambda p: int(p.name.rpartition(".")[2])
    )
    return [*reversed(backups), path]


def assert_within_limit(files: list[Path], max_bytes: int) -> None:
    """Every file fits, except one holding a single line longer than ``max_bytes``."""
    for file in files:
        content = file.read_bytes()
        assert content, f"{file.name} is empty"
        if len(content) > max_bytes:
            assert content.count(b"\n") == 1 and content.endswith(b"\n"), (
                f"{file.name} has {len(content)} bytes > {max_bytes} and more than one line"
            )


def assert_whole_lines(files: list[Path]) -> None:
    for file in files:
        assert file.read_bytes().endswith(b"\n"), f"{file.name} ends inside a line"


def test_a_burst_larger_than_max_bytes_is_split_at_line_boundaries(tmp_path: Path) -> None:
    # The reproduction: 800 lines of 30 bytes arriving as one chunk.
    path = tmp_path / "app.log"
    lines = numbered(800)
    stream = FileStream(str(path), max_bytes=2000, backup_count=100)
    stream(msg(b"".join(lines)))
    stream.close()
    files = files_oldest_first(path)
    assert_within_limit(files, 2000)
    assert_whole_lines(files)
    # 66 lines (1980 bytes) fill a file; the 67th would overflow it.
    assert [f.stat().st_size for f in files] == [1980] * 12 + [8 * 30]
    assert b"".join(f.read_bytes() for f in files) == b"".join(lines)


def test_a_burst_keeps_backup_count_files_holding_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    lines = numbered(800)
    stream = FileStream(str(path), max_bytes=2000, backup_count=3)
    stream(msg(b"".join(lines[:10])))
    stream(msg(b"".join(lines[10:])))
    stream.close()
    files = files_oldest_first(path)
    assert [f.name for f in files] == ["app.log.3", "app.log.2", "app.log.1", "app.log"]
    assert_within_limit(files, 2000)
    # Read oldest first they are the last 3 * 66 + 8 lines, in order, each once.
    assert b"".join(f.read_bytes() for f in files) == b"".join(lines[-(3 * 66 + 8) :])


def test_without_backups_the_one_file_holds_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    lines = numbered(800)
    stream = FileStream(str(path), max_bytes=2000)
    stream(msg(b"".join(lines)))
    stream.close()
    assert [p.name for p in tmp_path.iterdir()] == ["app.log"]
    assert path.read_bytes() == b"".join(lines[-8:])


def test_a_file_may_fill_exactly_and_no_empty_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=60, backup_count=5)
    stream(msg(b"a" * 29 + b"\n" + b"b" * 29 + b"\n"))  # exactly 60 bytes
    assert path.stat().st_size == 60
    assert not (tmp_path / "app.log.1").exists()
    stream(msg(b"c\n"))
    stream.close()
    assert (tmp_path / "app.log.1").stat().st_size == 60
    assert path.read_bytes() == b"c\n"


def test_a_line_longer_than_max_bytes_gets_a_file_to_itself(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=10, backup_count=10)
    stream(msg(b"small\n"))
    stream(msg(b"before\n" + b"L" * 25 + b"\n" + b"after\n"))
    stream(msg(b"M" * 11 + b"\n" + b"N" * 12 + b"\n"))
    stream(msg(b"end\n"))
    stream.close()
    contents = [f.read_bytes() for f in files_oldest_first(path)]
    assert contents == [
        b"small\n",  # "before\n" would overflow it
        b"before\n",
        b"L" * 25 + b"\n",
        b"after\n",
        b"M" * 11 + b"\n",
        b"N" * 12 + b"\n",
        b"end\n",
    ]


def test_the_time_prefix_counts_towards_max_bytes(tmp_path: Path) -> None:
    # Upstream 0.19 compares the size before prefixing, so its files overflow
    # by the prefixes; here the bytes written are what counts.
    path = tmp_path / "app.log"
    stream = FileStream(
        str(path), max_bytes=2000, backup_count=100, time_format="%Y-%m-%d %H:%M:%S"
    )
    lines = numbered(300)
    stream(msg(b"".join(lines[:250]), pid=7))
    for line in lines[250:]:
        stream(msg(line, pid=7))
    stream.close()
    files = files_oldest_first(path)
    assert len(files) > 1
    assert_within_limit(files, 2000)
    assert_whole_lines(files)
    written = b"".join(f.read_bytes() for f in files).split(b"\n")[:-1]
    assert [PREFIX.sub(b"", line, count=1) + b"\n" for line in written] == lines
    assert all(PREFIX.match(line) for line in written)


def test_an_oversized_line_gets_a_file_to_itself_with_a_time_prefix(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=60, backup_count=10, time_format="%H:%M:%S")
    # The prefix ("12:34:56 [7] | ", 15 bytes) makes the 40-byte line 55 bytes:
    # it fits alone. The 50-byte one becomes 65 bytes, longer than max_bytes.
    stream(msg(b"a\n" + b"b" * 39 + b"\n" + b"c" * 49 + b"\nd\n", pid=7))
    stream.close()
    contents = [PREFIX_TIME.sub(b"", f.read_bytes()) for f in files_oldest_first(path)]
    assert contents == [b"a\n", b"b" * 39 + b"\n", b"c" * 49 + b"\n", b"d\n"]
    sizes = [f.stat().st_size for f in files_oldest_first(path)]
    assert sizes == [17, 55, 65, 17]


def test_a_fragment_and_its_rest_stay_together_when_they_fit(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=16, backup_count=5)
    stream(msg(b"first\n"))
    stream(msg(b"par"))  # the last words of a process, or a piece of a long line
    stream(msg(b"tial\nnext\n"))
    stream.close()
    assert [f.read_bytes() for f in files_oldest_first(path)] == [
        b"first\npartial\n",
        b"next\n",
    ]


def test_an_oversized_line_delivered_in_pieces_keeps_its_file(tmp_path: Path) -> None:
    # The pipe reader passes a line over 1 MiB on in pieces: all of them go
    # to the file the line started, which then holds that line only.
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=10, backup_count=5)
    stream(msg(b"one\n"))
    stream(msg(b"X" * 15))
    stream(msg(b"Y" * 15))
    stream(msg(b"Z\nafter\n"))
    stream.close()
    assert [f.read_bytes() for f in files_oldest_first(path)] == [
        b"one\n",
        b"X" * 15 + b"Y" * 15 + b"Z\n",
        b"after\n",
    ]


def test_a_line_in_pieces_that_outgrows_a_shared_file_is_split_there(tmp_path: Path) -> None:
    # The start of the line was written after other lines, before its length
    # was known: keeping max_bytes means continuing it in the next file.
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=10, backup_count=5)
    stream(msg(b"12345\n"))
    stream(msg(b"abc"))
    stream(msg(b"defgh\nz\n"))
    stream.close()
    files = files_oldest_first(path)
    assert [f.read_bytes() for f in files] == [b"12345\nabc", b"defgh\nz\n"]


@pytest.mark.parametrize("time_format", [None, "%Y-%m-%d %H:%M:%S"])
@pytest.mark.parametrize("seed", range(5))
def test_random_bursts_keep_every_line_in_order(
    tmp_path: Path, seed: int, time_format: str | None
) -> None:
    rng = random.Random(seed)
    max_bytes = rng.choice([64, 200, 1000])
    path = tmp_path / "app.log"
    # Every backup is kept so all the output can be checked; each rotation
    # renames them all, so the output stays small.
    stream = FileStream(
        str(path), max_bytes=max_bytes, backup_count=10_000, time_format=time_format
    )
    lines = [b"%d " % i + b"x" * rng.choice([0, 5, 40, 150, 900]) + b"\n" for i in range(250)]
    position = 0
    while position < len(lines):
        take = rng.choice([1, 2, 10, 50, 100])
        stream(msg(b"".join(lines[position : position + take])))
        position += take
    stream.close()
    files = files_oldest_first(path)
    assert_within_limit(files, max_bytes)
    assert_whole_lines(files)
    written = b"".join(f.read_bytes() for f in files)
    if time_format:
        written = LINE_PREFIX.sub(b"", written)
    assert written == b"".join(lines)


def test_a_burst_through_a_real_pipe(tmp_path: Path, spawn_python: Spawn) -> None:
    # A child writes 800 lines of 30 bytes in one write; the pipe reader hands
    # them over in as few chunks as it read.
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=2000, backup_count=100)
    code = (
        "import sys; sys.stdout.buffer.write(b''.join("
        "b'line %04d ' % i + b'x' * 19 + b'\\n' for i in range(800)))"
    )

    async def main() -> None:
        child, fd = spawn_python(code)
        reader = PipeReader(fd, pid=child.pid, name="stdout", sink=stream,
                            loop=asyncio.get_running_loop())
        reader.start()
        assert await reader.wait_closed(timeout=30)
        assert child.wait(timeout=10) == 0

    asyncio.run(main())
    stream.close()
    files = files_oldest_first(path)
    assert_within_limit(files, 2000)
    assert_whole_lines(files)
    assert b"".join(f.read_bytes() for f in files) == b"".join(numbered(800))
