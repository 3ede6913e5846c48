"""A log disk that fills up: output dropped and counted, one report per interval, then resumed.

Each test mounts its own small tmpfs (we run as root) and fills it with a
ballast file; removing the ballast gives the space back. The report interval
is driven by a fake clock here; the daemon test uses the documented
``error_report_interval`` stream option instead.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from circus.stream import FileStream, TimedRotatingFileStream

TMPFS_SIZE = 256 * 1024
FIRST = b"b" * 4095 + b"\n"


@contextlib.contextmanager
def small_tmpfs(where: Path, size: int = TMPFS_SIZE) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``where`` for the block's duration."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` with a ballast file; returns its path."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    block = b"\0" * 4096
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return ballast


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk") as mounted:
        yield mounted


def _message(text: bytes) -> dict[str, object]:
    return {"pid": 42, "name": "stdout", "data": text}


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("make", [
    lambda path: FileStream(path, max_bytes="64K", backup_count=2),
    lambda path: TimedRotatingFileStream(path, rotate_when="H"),
], ids=["FileStream", "TimedRotatingFileStream"])
def test_full_disk_drops_counts_reports_once_per_interval_and_resumes(
        disk: Path, caplog: pytest.LogCaptureFixture, make) -> None:
    caplog.set_level(logging.INFO, logger="circus")
    stream = make(disk / "app.log")
    clock = FakeClock()
    stream.drops.clock = clock
    reports: list[dict[str, object]] = []
    stream.drops.listener = reports.append
    try:
        # One whole tmpfs page: no room is left in the log's last page once the disk is full.
        stream(_message(FIRST))
        ballast = fill(disk)
        line = b"x" * 99 + b"\n"
        failing = 500
        for _ in range(failing):
            stream(_message(line))  # never raises, never blocks
        first = list(_errors(caplog))
        clock.now += 59.0
        for _ in range(failing):
            stream(_message(line))
        within_the_minute = list(_errors(caplog))
        clock.now += 1.0
        stream(_message(line))
        after_the_minute = list(_errors(caplog))

        assert stream.drops.dropped_chunks == 2 * failing + 1
        assert stream.drops.dropped_bytes == len(line) * (2 * failing + 1)
        assert len(first) == 1 and "No space left on device" in first[0]
        assert within_the_minute == first
        assert len(after_the_minute) == 2
        assert [r["resumed"] for r in reports] == [False, False]

        os.unlink(ballast)
        stream(_message(b"space is back\n"))
        assert stream.drops.error is None
        assert reports[-1]["resumed"] is True
        assert reports[-1]["dropped_chunks"] == 2 * failing + 1
        assert any("writing again" in r.getMessage() for r in caplog.records)
        text = b"".join(p.read_bytes() for p in sorted(disk.glob("app.log*")))
        assert text.startswith(FIRST)
        # A partial write may have left a cut line; the next write starts a line of its own.
        assert text.endswith(b"\nspace is back\n")
        print(f"\ndisk full ({type(stream).__name__}): dropped "
              f"{stream.drops.dropped_chunks} chunks / {stream.drops.dropped_bytes} bytes, "
              f"{len(after_the_minute)} error lines for {2 * failing + 1} failed writes "
              f"over 60 s (fake clock), resumed")
    finally:
        stream.close()


def test_error_report_interval_is_checked() -> None:
    with pytest.raises(ValueError, match="error_report_interval: expected a number of "
                                         "seconds >= 0, got 'soon'"):
        FileStream("/tmp/never-written.log", error_report_interval="soon")
