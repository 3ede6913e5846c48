"""build_stream: names, dotted paths and option errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from circus.stream import (
    FancyStdoutStream,
    FileStream,
    QueueStream,
    StdoutStream,
    Stream,
    TimedRotatingFileStream,
    WatchedFileStream,
    build_stream,
)


class RecordingStream:
    """A user stream that is only callable, as upstream allowed."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.seen: list[Mapping[str, Any]] = []

    def __call__(self, data: Mapping[str, Any]) -> None:
        self.seen.append(data)


class FlexibleStream(RecordingStream):
    """A user stream taking any option."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options

    def close(self) -> None:
        self.options["closed"] = True

    def reopen(self) -> None:
        self.options["reopened"] = True


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("FileStream", FileStream),
        ("filestream", FileStream),
        ("circus.stream.FileStream", FileStream),
        ("circus.stream.file_stream.FileStream", FileStream),
        ("WatchedFileStream", WatchedFileStream),
        ("TimedRotatingFileStream", TimedRotatingFileStream),
        ("circus.stream.filestream", FileStream),
    ],
)
def test_file_builtins(tmp_path: Path, name: str, cls: type[Any]) -> None:
    stream = build_stream({"class": name, "filename": str(tmp_path / "a.log")})
    assert type(stream) is cls
    stream.close()


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("QueueStream", QueueStream),
        ("StdoutStream", StdoutStream),
        ("fancystdoutstream", FancyStdoutStream),
    ],
)
def test_other_builtins(name: str, cls: type[Any]) -> None:
    assert type(build_stream({"class": name})) is cls


def test_ini_strings_reach_the_constructor(tmp_path: Path) -> None:
    stream = build_stream(
        {
            "class": "FileStream",
            "filename": str(tmp_path / "a.log"),
            "max_bytes": "250M",
            "backup_count": "5",
            "time_format": "%Y-%m-%d %H:%M:%S",
        }
    )
    assert isinstance(stream, FileStream)
    assert (stream.max_bytes, stream.backup_count) == (250 << 20, 5)
    assert stream.time_format == "%Y-%m-%d %H:%M:%S"
    stream.close()


def test_filename_without_class_is_a_filestream(tmp_path: Path) -> None:
    stream = build_stream({"filename": str(tmp_path / "a.log")})
    assert type(stream) is FileStream
    stream.close()


def test_dotted_class_path() -> None:
    stream = build_stream({"class": f"{__name__}.FlexibleStream", "level": "3"})
    assert isinstance(stream, FlexibleStream)
    assert stream.options == {"level": "3"}


def test_callable_only_class_gets_close_and_reopen() -> None:
    stream = build_stream({"class": f"{__name__}.RecordingStream", "prefix": ">"})
    assert isinstance(stream, Stream)
    stream({"pid": 1, "name": "stderr", "data": b"x\n"})
    stream.reopen()
    stream.close()
    assert stream.prefix == ">"  # type: ignore[attr-defined]
    assert stream.seen == [{"pid": 1, "name": "stderr", "data": b"x\n"}]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"class": "NoSuchStream"}, "unknown stream class 'NoSuchStream': expected one of"),
        ({"class": "no_such_module.Thing"}, "cannot import stream class 'no_such_module.Thing'"),
        ({"class": "os.NoSuchThing"}, "cannot import stream class 'os.NoSuchThing'"),
        ({"class": "os.sep"}, "stream class 'os.sep' is not a class"),
        (
            {"class": "FileStream", "filename": "x", "bogus": "1"},
            "stream option 'bogus' is not accepted by FileStream",
        ),
        (
            {"class": "StdoutStream", "color": "red"},
            "stream option 'color' is not accepted by StdoutStream",
        ),
        ({"class": "FileStream"}, "stream class FileStream requires option 'filename'"),
        ({"class": "FancyStdoutStream", "color": "mauve"}, "color: expected one of red"),
        ({}, "a stream needs a 'class' option"),
        ({"class": ""}, "a stream needs a 'class' option"),
        ({"class": 3}, "stream class: expected a class name"),
    ],
)
def test_errors(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        build_stream(spec)


def test_bad_option_of_a_dotted_class() -> None:
    with pytest.raises(
        ValueError, match=f"stream option 'colour' is not accepted by {__name__}.RecordingStream"
    ):
        build_stream({"class": f"{__name__}.RecordingStream", "colour": "red"})
