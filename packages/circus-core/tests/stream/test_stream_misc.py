"""StdoutStream, FancyStdoutStream and QueueStream."""

from __future__ import annotations

import queue
from datetime import datetime

import circus.stream
import pytest
from circus.stream import FancyStdoutStream, QueueStream, StdoutStream, Stream, StreamMessage


def msg(data: bytes, pid: int = 42) -> StreamMessage:
    return {"pid": pid, "name": "stdout", "data": data}


def test_public_names() -> None:
    assert circus.stream.__all__ == sorted(circus.stream.__all__)
    assert set(circus.stream.__all__) == {
        "FileStream",
        "WatchedFileStream",
        "TimedRotatingFileStream",
        "QueueStream",
        "StdoutStream",
        "FancyStdoutStream",
        "PipeReader",
        "build_stream",
        "Stream",
        "StreamMessage",
    }


def test_stdout_stream_writes_bytes_verbatim(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    stream = StdoutStream()
    assert isinstance(stream, Stream)
    stream(msg(b"hello\nworld\n"))
    stream(msg(b"\xff raw\n"))
    stream.reopen()
    stream.close()
    assert capfdbinary.readouterr().out == b"hello\nworld\n\xff raw\n"


def test_stdout_stream_with_text_only_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    StdoutStream()(msg(b"text\n"))
    assert capsys.readouterr().out == "text\n"


def test_fancy_stream_colours_and_prefixes_each_line(
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    stream = FancyStdoutStream(color="Green", time_format="%Y/%m/%d | %H:%M:%S")
    moment = datetime(2024, 3, 5, 14, 30, 15).timestamp()
    stream._now = lambda: moment
    stream(msg(b"one\ntwo\n", pid=9))
    lines = capfdbinary.readouterr().out.split(b"\n")
    assert lines == [
        b"\x1b[0;32m2024/03/05 | 14:30:15 [9] | one\x1b[0m",
        b"\x1b[0;32m2024/03/05 | 14:30:15 [9] | two\x1b[0m",
        b"",
    ]


def test_fancy_stream_default_time_format(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    stream = FancyStdoutStream(color="red")
    assert stream.time_format == "%Y-%m-%d %H:%M:%S"
    stream(msg(b"x", pid=1))
    out = capfdbinary.readouterr().out
    assert out.startswith(b"\x1b[0;31m") and out.endswith(b" [1] | x\x1b[0m\n")


def test_fancy_stream_picks_a_colour_per_pid(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    stream = FancyStdoutStream(time_format="")
    colours = {stream.color_for(pid) for pid in range(100, 107)}
    assert len(colours) == 7  # consecutive pids get distinct colours
    assert stream.color_for(1234) == FancyStdoutStream().color_for(1234)  # deterministic
    stream(msg(b"x\n", pid=100))
    code = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36}.get(
        stream.color_for(100), 37
    )
    assert capfdbinary.readouterr().out == b"\x1b[0;%dm[100] | x\x1b[0m\n" % code


def test_fancy_stream_rejects_unknown_colour() -> None:
    with pytest.raises(ValueError, match="red, green, yellow, blue, magenta, cyan, white"):
        FancyStdoutStream(color="purple")


def test_queue_stream_creates_a_queue() -> None:
    stream = QueueStream()
    assert isinstance(stream, Stream)
    data = msg(b"x\n")
    stream(data)
    assert stream.queue.get_nowait() is data
    stream.reopen()
    stream.close()


def test_queue_stream_uses_given_queue() -> None:
    target: queue.Queue[StreamMessage] = queue.Queue()
    stream = QueueStream(target)
    stream(msg(b"y\n"))
    assert stream.queue is target
    assert target.qsize() == 1


def test_queue_stream_rejects_a_non_queue() -> None:
    with pytest.raises(ValueError, match=r"queue: expected a queue\.Queue"):
        QueueStream("not a queue")  # type: ignore[arg-type]
