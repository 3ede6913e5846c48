"""FileStream and WatchedFileStream."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from circus.stream import FileStream, Stream, StreamMessage, WatchedFileStream


def msg(data: bytes, pid: int = 42, name: Literal["stdout", "stderr"] = "stdout") -> StreamMessage:
    return {"pid": pid, "name": name, "data": data}


def test_appends_and_keeps_existing_content(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"old\n")
    stream = FileStream(str(path))
    assert isinstance(stream, Stream)
    stream(msg(b"one\ntwo\n"))
    stream(msg(b""))
    stream(msg(b"three\n"))
    stream.close()
    assert path.read_bytes() == b"old\none\ntwo\nthree\n"


def test_string_options_are_coerced(tmp_path: Path) -> None:
    stream = FileStream(str(tmp_path / "a.log"), max_bytes="1K", backup_count="3")
    assert (stream.max_bytes, stream.backup_count) == (1024, 3)
    stream.close()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_bytes": "lots"}, "max_bytes: expected a size"),
        ({"backup_count": "two"}, "backup_count: expected an integer"),
        ({"backup_count": -1}, "backup_count: expected an integer >= 0"),
        ({"time_format": 5}, "time_format: expected a string"),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        FileStream(str(tmp_path / "a.log"), **kwargs)


def test_unopenable_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot open"):
        FileStream(str(tmp_path / "missing-dir" / "a.log"))


def test_size_rotation_with_backups(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=100, backup_count=2)
    lines = [b"line %02d %s\n" % (i, b"x" * 21) for i in range(20)]  # 30 bytes each
    for line in lines:
        stream(msg(line))
    stream.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2"]
    for name in names:
        assert 0 < (tmp_path / name).stat().st_size <= 100
    # Three lines fit in 100 bytes: lines 18-19 in app.log, 15-17 in .1, 12-14 in .2.
    assert (tmp_path / "app.log").read_bytes() == b"".join(lines[18:])
    assert (tmp_path / "app.log.1").read_bytes() == b"".join(lines[15:18])
    assert (tmp_path / "app.log.2").read_bytes() == b"".join(lines[12:15])


def test_size_rotation_without_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=100)
    for i in range(10):
        stream(msg(b"%029d\n" % i))
    stream.close()
    assert [p.name for p in tmp_path.iterdir()] == ["app.log"]
    assert path.read_bytes() == b"%029d\n" % 9


def test_chunk_larger_than_max_bytes_is_split_between_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), max_bytes=20, backup_count=1)
    stream(msg(b"small\n"))
    stream(msg(b"a much longer line\nand another one\n"))
    stream.close()
    assert path.read_bytes() == b"and another one\n"
    assert (tmp_path / "app.log.1").read_bytes() == b"a much longer line\n"


def test_existing_size_counts_towards_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"x" * 95 + b"\n")
    stream = FileStream(str(path), max_bytes=100, backup_count=1)
    stream(msg(b"next\n"))
    stream.close()
    assert path.read_bytes() == b"next\n"


def test_time_format_prefixes_every_line(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), time_format="%Y-%m-%d %H:%M:%S")
    moment = datetime(2024, 3, 5, 14, 30, 15).timestamp()
    stream._now = lambda: moment
    stream(msg(b"one\ntwo\n", pid=7))
    stream(msg(b"three", pid=8))
    stream(msg(b"\n", pid=8))
    stream.close()
    assert path.read_bytes().split(b"\n") == [
        b"2024-03-05 14:30:15 [7] | one",
        b"2024-03-05 14:30:15 [7] | two",
        b"2024-03-05 14:30:15 [8] | three",
        b"2024-03-05 14:30:15 [8] | ",
        b"",
    ]


def test_time_format_uses_current_time(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path), time_format="%H:%M:%S.%f")
    stream(msg(b"a\nb\n", pid=1))
    stream.close()
    for line in path.read_bytes().splitlines():
        assert re.fullmatch(rb"\d\d:\d\d:\d\d\.\d{6} \[1\] \| [ab]", line)


def test_reopen_follows_a_moved_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path))
    stream(msg(b"before\n"))
    os.rename(path, tmp_path / "app.log.old")
    stream.reopen()
    stream(msg(b"after\n"))
    stream.close()
    assert (tmp_path / "app.log.old").read_bytes() == b"before\n"
    assert path.read_bytes() == b"after\n"


def test_write_after_close_reopens(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path))
    stream(msg(b"one\n"))
    stream.close()
    stream.close()
    stream(msg(b"two\n"))
    stream.close()
    assert path.read_bytes() == b"one\ntwo\n"


@pytest.mark.parametrize("action", ["rename", "unlink"])
def test_filestream_notices_external_rotation(tmp_path: Path, action: str) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path))
    stream(msg(b"before\n"))
    if action == "rename":
        os.rename(path, tmp_path / "app.log.1")
    else:
        os.unlink(path)
    # The path is checked at most once a second: keep writing until it is noticed.
    deadline = time.monotonic() + 5
    written = 0
    while not path.exists():
        assert time.monotonic() < deadline, "FileStream did not notice the rotation"
        stream(msg(b"during\n"))
        written += 1
        time.sleep(0.02)
    stream(msg(b"after\n"))
    stream.close()
    # The write that noticed the move went to the new file, the earlier ones to the old.
    assert path.read_bytes() == b"during\nafter\n"
    if action == "rename":
        old = b"before\n" + b"during\n" * (written - 1)
        assert (tmp_path / "app.log.1").read_bytes() == old


def test_filestream_rotation_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = FileStream(str(path))
    stream._check_interval = 0.0
    stream._next_check = 0.0
    os.rename(path, tmp_path / "moved.log")
    stream(msg(b"x\n"))
    stream.close()
    assert path.read_bytes() == b"x\n"


@pytest.mark.parametrize("action", ["rename", "unlink"])
def test_watched_file_stream_reopens_before_next_write(tmp_path: Path, action: str) -> None:
    path = tmp_path / "app.log"
    stream = WatchedFileStream(str(path), time_format="%Y")
    stream(msg(b"before\n", pid=3))
    if action == "rename":
        os.rename(path, tmp_path / "app.log.1")
    else:
        os.unlink(path)
    stream(msg(b"after\n", pid=3))
    stream.close()
    year = time.strftime("%Y").encode()
    assert path.read_bytes() == year + b" [3] | after\n"
    if action == "rename":
        assert (tmp_path / "app.log.1").read_bytes() == year + b" [3] | before\n"


def test_watched_file_stream_keeps_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    stream = WatchedFileStream(path)
    for i in range(3):
        stream(msg(b"%d\n" % i))
    stream.reopen()
    stream(msg(b"3\n"))
    stream.close()
    assert path.read_bytes() == b"0\n1\n2\n3\n"
