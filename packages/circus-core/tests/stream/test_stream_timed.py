"""TimedRotatingFileStream, driven by an injected clock."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from circus.stream import TimedRotatingFileStream


class Clock:
    """A settable clock to install as the stream's ``_now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()


def make(tmp_path: Path, start: float, **kwargs: Any) -> tuple[TimedRotatingFileStream, Clock]:
    stream = TimedRotatingFileStream(str(tmp_path / "app.log"), utc=True, **kwargs)
    clock = Clock(start)
    stream._now = clock
    return stream, clock


def write(stream: TimedRotatingFileStream, text: str, pid: int = 1) -> None:
    stream({"pid": pid, "name": "stdout", "data": text.encode()})


def names(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


def test_rotates_every_second(tmp_path: Path) -> None:
    stream, clock = make(tmp_path, utc(2024, 3, 5, 14, 30, 15) + 0.25, rotate_when="S")
    write(stream, "a\n")
    clock.now += 0.5
    write(stream, "b\n")
    assert names(tmp_path) == ["app.log"]
    clock.now += 0.5  # 14:30:16.25: the period that started at :15 is over
    write(stream, "c\n")
    stream.close()
    assert names(tmp_path) == ["app.log", "app.log.20240305143015"]
    assert (tmp_path / "app.log.20240305143015").read_text() == "a\nb\n"
    assert (tmp_path / "app.log").read_text() == "c\n"


def test_hours_on_the_hour_with_interval(tmp_path: Path) -> None:
    stream, clock = make(tmp_path, utc(2024, 3, 5, 14, 59, 0), rotate_when="h", rotate_interval="2")
    write(stream, "14h\n")
    clock.now = utc(2024, 3, 5, 15, 59, 59)
    write(stream, "15h\n")
    assert names(tmp_path) == ["app.log"]
    clock.now = utc(2024, 3, 5, 16, 0, 0)
    write(stream, "16h\n")
    stream.close()
    assert (tmp_path / "app.log.2024030514").read_text() == "14h\n15h\n"
    assert (tmp_path / "app.log").read_text() == "16h\n"


def test_minutes(tmp_path: Path) -> None:
    stream, clock = make(tmp_path, utc(2024, 3, 5, 14, 30, 59), rotate_when="M")
    write(stream, "a\n")
    clock.now += 1
    write(stream, "b\n")
    stream.close()
    assert names(tmp_path) == ["app.log", "app.log.202403051430"]


@pytest.mark.parametrize("when", ["midnight", "MIDNIGHT", "D", "d"])
def test_midnight(tmp_path: Path, when: str) -> None:
    stream, clock = make(tmp_path, utc(2024, 3, 5, 23, 59, 59), rotate_when=when)
    write(stream, "late\n")
    clock.now = utc(2024, 3, 6, 0, 0, 1)
    write(stream, "early\n")
    stream.close()
    assert (tmp_path / "app.log.20240305").read_text() == "late\n"
    assert (tmp_path / "app.log").read_text() == "early\n"


def test_weekday(tmp_path: Path) -> None:
    # 2024-03-05 is a Tuesday; W0 rolls over when Monday 2024-03-11 begins.
    stream, clock = make(tmp_path, utc(2024, 3, 5, 12, 0, 0), rotate_when="w0")
    write(stream, "tuesday\n")
    clock.now = utc(2024, 3, 10, 23, 59, 59)
    write(stream, "sunday\n")
    assert names(tmp_path) == ["app.log"]
    clock.now = utc(2024, 3, 11, 0, 0, 0)
    write(stream, "monday\n")
    stream.close()
    assert (tmp_path / "app.log.20240305").read_text() == "tuesday\nsunday\n"


def test_backup_count_deletes_oldest(tmp_path: Path) -> None:
    stream, clock = make(tmp_path, utc(2024, 3, 5, 0, 0, 0), rotate_when="S", backup_count="2")
    (tmp_path / "unrelated.log").write_text("keep me")
    for second in range(6):
        clock.now = utc(2024, 3, 5, 0, 0, second)
        write(stream, f"{second}\n")
    stream.close()
    assert names(tmp_path) == [
        "app.log",
        "app.log.20240305000003",
        "app.log.20240305000004",
        "unrelated.log",
    ]
    assert (tmp_path / "app.log").read_text() == "5\n"


def test_backup_count_zero_keeps_everything(tmp_path: Path) -> None:
    stream, clock = make(tmp_path, utc(2024, 3, 5, 0, 0, 0), rotate_when="S")
    for second in range(5):
        clock.now = utc(2024, 3, 5, 0, 0, second)
        write(stream, f"{second}\n")
    stream.close()
    assert len(names(tmp_path)) == 5


def test_taken_backup_name_is_not_overwritten(tmp_path: Path) -> None:
    # E.g. left by an earlier run whose clock was ahead.
    (tmp_path / "app.log.20240305000000").write_text("earlier run\n")
    stream, clock = make(tmp_path, utc(2024, 3, 5, 0, 0, 0), rotate_when="S")
    write(stream, "first\n")
    clock.now += 1
    write(stream, "second\n")
    stream.close()
    assert (tmp_path / "app.log.20240305000000").read_text() == "earlier run\n"
    assert (tmp_path / "app.log.20240305000000.1").read_text() == "first\n"
    assert (tmp_path / "app.log").read_text() == "second\n"


@pytest.mark.parametrize(
    ("when", "interval", "start", "later", "expected"),
    [
        # Upstream 0.19's suffixes: %Y%m%d%H%M%S, %Y%m%d%H%M, %Y%m%d%H, %Y%m%d,
        # stamped with the start of the interval the file covers.
        ("S", 1, (2024, 3, 5, 14, 30, 15), 1, "app.log.20240305143015"),
        ("S", 10, (2024, 3, 5, 14, 30, 15), 10, "app.log.20240305143015"),
        ("M", 1, (2024, 3, 5, 14, 30, 15), 60, "app.log.202403051430"),
        ("H", 1, (2024, 3, 5, 14, 30, 15), 3600, "app.log.2024030514"),
        ("H", 3, (2024, 3, 5, 23, 30, 15), 3 * 3600, "app.log.2024030523"),
        ("D", 1, (2024, 3, 5, 14, 30, 15), 86400, "app.log.20240305"),
        ("MIDNIGHT", 1, (2024, 12, 31, 23, 59, 59), 1, "app.log.20241231"),
        ("W3", 1, (2024, 3, 5, 14, 30, 15), 7 * 86400, "app.log.20240305"),
    ],
)
def test_rotated_names_follow_upstream(
    tmp_path: Path,
    when: str,
    interval: int,
    start: tuple[int, int, int, int, int, int],
    later: int,
    expected: str,
) -> None:
    stream, clock = make(tmp_path, utc(*start), rotate_when=when, rotate_interval=interval)
    write(stream, "old\n")
    clock.now += later
    write(stream, "new\n")
    stream.close()
    assert names(tmp_path) == ["app.log", expected]
    assert (tmp_path / expected).read_text() == "old\n"


def test_local_time_names_unless_utc(tmp_path: Path) -> None:
    moment = utc(2024, 3, 5, 14, 30, 15)
    stream = TimedRotatingFileStream(str(tmp_path / "app.log"), rotate_when="S")
    clock = Clock(moment)
    stream._now = clock
    write(stream, "a\n")
    clock.now += 1
    write(stream, "b\n")
    stream.close()
    local = datetime.fromtimestamp(moment).strftime("%Y%m%d%H%M%S")
    assert names(tmp_path) == ["app.log", f"app.log.{local}"]


def test_backup_count_only_counts_names_of_its_own_shape(tmp_path: Path) -> None:
    # Like upstream, only "<filename>.<suffix of this rotate_when>" names are
    # backups (ours may carry a ".N" counter after a clash); other files stay.
    foreign = [
        "app.log.1",  # a FileStream backup
        "app.log.2024-03-04_00-00-00",  # named by an older version of this stream
        "app.log.202403040000",  # rotate_when = M
        "app.log.20240304000000.gz",  # compressed by a log shipper
        "other.log.20240304000000",
    ]
    for name in foreign:
        (tmp_path / name).write_text("keep\n")
    for name in ["app.log.20240304000000", "app.log.20240304000000.2",
                 "app.log.20240304000000.10"]:
        (tmp_path / name).write_text("old\n")
    stream, clock = make(tmp_path, utc(2024, 3, 5, 0, 0, 0), rotate_when="S", backup_count=2)
    write(stream, "0\n")
    clock.now += 1
    write(stream, "1\n")
    stream.close()
    # Oldest first: .20240304000000, its .2, its .10, then today's: two are kept.
    assert names(tmp_path) == sorted(
        [*foreign, "app.log", "app.log.20240304000000.10", "app.log.20240305000000"]
    )


def test_time_format_prefix_uses_the_same_clock(tmp_path: Path) -> None:
    stream, _ = make(tmp_path, utc(2024, 3, 5, 9, 8, 7), time_format="%H:%M:%S")
    write(stream, "x\ny\n", pid=12)
    stream.close()
    assert (tmp_path / "app.log").read_text() == "09:08:07 [12] | x\n09:08:07 [12] | y\n"


def test_a_line_is_stamped_with_a_time_of_its_files_period(tmp_path: Path) -> None:
    # The prefix and the rotation check read the clock once per chunk; with
    # two readings a line stamped :00 could land in the file of :01.
    stream = TimedRotatingFileStream(
        str(tmp_path / "app.log"), rotate_when="S", time_format="%S", utc=True
    )
    readings = iter(utc(2024, 3, 5, 0, 0, 0) + 0.75 + 0.1 * n for n in range(100))
    stream._now = lambda: next(readings)
    for text in "abcdefg":
        write(stream, f"{text}\n")
    stream.close()
    rotated = [name for name in names(tmp_path) if name != "app.log"]
    assert rotated, "no rotation happened"
    for name in rotated:
        second = name[-2:]
        for line in (tmp_path / name).read_text().splitlines():
            assert line.startswith(f"{second} "), (name, line)
    for line in (tmp_path / "app.log").read_text().splitlines():
        assert line.startswith("01 "), line


def test_old_file_from_a_previous_period_is_rotated_first(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("yesterday\n")
    stream = TimedRotatingFileStream(str(path), rotate_when="S")
    stream._now = Clock(path.stat().st_mtime + 3600)
    write(stream, "today\n")
    stream.close()
    assert path.read_text() == "today\n"
    assert len(names(tmp_path)) == 2


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"rotate_when": "fortnight"}, "rotate_when: expected S, M, H, D, MIDNIGHT or W0-W6"),
        ({"rotate_when": "W7"}, "rotate_when: expected"),
        ({"rotate_interval": "0"}, "rotate_interval: expected an integer >= 1"),
        ({"utc": "maybe"}, "utc: expected a boolean"),
        ({"backup_count": "x"}, "backup_count: expected an integer"),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        TimedRotatingFileStream(str(tmp_path / "app.log"), **kwargs)


def test_string_options(tmp_path: Path) -> None:
    stream = TimedRotatingFileStream(
        str(tmp_path / "app.log"), backup_count="3", rotate_interval="4", utc="true"
    )
    assert (stream.backup_count, stream.rotate_interval, stream.utc) == (3, 4, True)
    stream.close()
