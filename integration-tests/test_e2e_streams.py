"""Output streams end to end: the real circusd writing its children's output to files.

A child prints numbered lines (a burst far larger than ``max_bytes``, then
small writes, with one line longer than ``max_bytes``) to stdout and stderr.
circusd reads the pipes and writes them through FileStreams; the test reads
the files back. TimedRotatingFileStream is run on a ticking child, by our
circusd and by upstream's 0.19, and the rotated file names are compared.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from functools import partial
from pathlib import Path

from _circus_run import PYTHON, CircusRun, Daemon, check, wait_for

MAX_BYTES = 4096
LINES = 3000
BURST = 1000  # lines written with a single write(2): about 50 KB
OVERSIZED = 2000  # this line is 6000 bytes, longer than MAX_BYTES
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PREFIX = re.compile(rb"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d+\] \| ")

# Writes LINES numbered lines to fds 1 and 2 with raw writes, then sleeps until
# stopped (exiting would make circusd respawn it and write them all again).
WRITER = f"""
import os, sys, time

def line(i):
    fill = b"O" * 6000 if i == {OVERSIZED} else b"x" * (i % 97)
    return b"%05d " % i + fill + b"\\n"

lines = [line(i) for i in range({LINES})]
for fd in (1, 2):
    os.write(fd, b"".join(lines[:{BURST}]))
    for start in range({BURST}, {LINES}, 7):
        os.write(fd, b"".join(lines[start:start + 7]))
while True:
    time.sleep(1)
"""

# Prints a numbered line every 50 ms, flushed, until stopped.
TICKER = """
import sys, time
n = 0
while True:
    sys.stdout.write("tick %d\\n" % n)
    sys.stdout.flush()
    n += 1
    time.sleep(0.05)
"""


def expected_output() -> bytes:
    """What the writer writes to each of its fds."""
    return b"".join(
        b"%05d " % i + (b"O" * 6000 if i == OVERSIZED else b"x" * (i % 97)) + b"\n"
        for i in range(LINES)
    )


def script(run: CircusRun, name: str, code: str) -> str:
    """A watcher cmd running *code* from a file; its argv carries the test's token."""
    path = run.tmp_path / f"{name}.py"
    path.write_text(code)
    return f"{shlex.quote(PYTHON)} {shlex.quote(str(path))} {run.token}"


def file_stream(prefix: str, path: Path, backup_count: int, time_format: str = "") -> str:
    lines = [
        f"{prefix}.class = FileStream",
        f"{prefix}.filename = {path}",
        f"{prefix}.max_bytes = {MAX_BYTES}",
        f"{prefix}.backup_count = {backup_count}",
    ]
    if time_format:
        lines.append(f"{prefix}.time_format = {time_format}")
    return "\n".join(lines) + "\n"


def rotated_oldest_first(path: Path) -> list[Path]:
    """``name.N`` … ``name.1``, then ``name``: the order FileStream wrote them."""
    backups = [p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()]
    backups.sort(key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*backups, path]


def check_sizes(files: list[Path]) -> None:
    """No file over MAX_BYTES, except one holding a single longer line; none torn."""
    for file in files:
        content = file.read_bytes()
        assert content.endswith(b"\n"), f"{file.name} ends inside a line"
        lines = content.count(b"\n")
        if len(content) > MAX_BYTES:
            assert lines == 1, f"{file.name}: {len(content)} bytes > {MAX_BYTES} in {lines} lines"


def read_all(files: list[Path], prefixed: bool = False) -> bytes:
    data = b"".join(file.read_bytes() for file in files)
    return PREFIX.sub(b"", data) if prefixed else data


def last_line_written(path: Path) -> bool:
    return path.exists() and (b"%05d " % (LINES - 1)) in path.read_bytes()


def test_file_stream_rotation_keeps_every_line_once_and_no_file_over_max_bytes(
    circus_run: CircusRun,
) -> None:
    logs = circus_run.tmp_path / "logs"
    logs.mkdir()
    cmd = script(circus_run, "writer", WRITER)
    sections = (
        f"[watcher:all]\ncmd = {cmd}\ngraceful_timeout = 5\n"
        + file_stream("stdout_stream", logs / "all.out", 100)
        + file_stream("stderr_stream", logs / "all.err", 100, TIME_FORMAT)
        + f"\n[watcher:tail]\ncmd = {cmd}\ngraceful_timeout = 5\n"
        + file_stream("stdout_stream", logs / "tail.out", 2)
    )
    config, endpoint, pubsub = circus_run.config("streams", sections)
    circus_run.start("ours", config, endpoint, pubsub)
    for name in ("all.out", "all.err", "tail.out"):
        wait_for(partial(last_line_written, logs / name), f"the last line in {name}")
    expected = expected_output()

    # Every line once, in order, over files none of which is over max_bytes.
    out = rotated_oldest_first(logs / "all.out")
    assert len(out) > len(expected) // MAX_BYTES  # it did rotate, often
    check_sizes(out)
    assert read_all(out) == expected
    assert sum(f.stat().st_size > MAX_BYTES for f in out) == 1  # the 6000-byte line

    # The same with a time prefix on every line: the prefixes count towards
    # max_bytes, and the oversized line still has a file to itself.
    err = rotated_oldest_first(logs / "all.err")
    check_sizes(err)
    assert len(PREFIX.findall(read_all(err))) == LINES
    assert read_all(err, prefixed=True) == expected

    # backup_count = 2: three files, holding the tail of the output.
    tail = rotated_oldest_first(logs / "tail.out")
    assert [f.name for f in tail] == ["tail.out.2", "tail.out.1", "tail.out"]
    assert not (logs / "tail.out.3").exists()
    check_sizes(tail)
    kept = read_all(tail)
    assert expected.endswith(kept) and expected[-len(kept) - 1 : -len(kept)] == b"\n"


def timed_section(run: CircusRun, path: Path, time_format: str = "") -> str:
    section = (
        f"[watcher:ticker]\ncmd = {script(run, 'ticker', TICKER)}\ngraceful_timeout = 5\n"
        "stdout_stream.class = TimedRotatingFileStream\n"
        f"stdout_stream.filename = {path}\n"
        "stdout_stream.rotate_when = S\n"
        "stdout_stream.backup_count = 3\n"
    )
    if time_format:
        section += f"stdout_stream.time_format = {time_format}\n"
    return section


def rotated_names(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(path.name + ".*"))


def rotated_at_least(path: Path, count: int) -> bool:
    return len(rotated_names(path)) >= count


def stop(run: CircusRun, daemon: Daemon, watcher: str) -> None:
    """Stop a watcher with our circusctl and wait until it is stopped: no more writes."""
    check(run.ours_ctl(daemon.endpoint, "stop", watcher, "--waiting"), stdout="ok\n")


def test_timed_rotation_names_periods_and_backup_count(circus_run: CircusRun) -> None:
    logs = circus_run.tmp_path / "logs"
    logs.mkdir()
    path = logs / "timed.log"
    config, endpoint, pubsub = circus_run.config(
        "timed", timed_section(circus_run, path, "%Y%m%d%H%M%S")
    )
    started = datetime.now().replace(microsecond=0)
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    seen: set[str] = set()

    def five_rotations() -> bool:
        seen.update(rotated_names(path))
        return len(seen) >= 5

    wait_for(five_rotations, "five rotations of timed.log", 30)
    stop(circus_run, daemon, "ticker")
    ended = datetime.now()

    names = rotated_names(path)
    seen.update(names)
    # Upstream's suffix for rotate_when = S is %Y%m%d%H%M%S, local time.
    stamps = []
    for name in names:
        match = re.fullmatch(r"timed\.log\.(\d{14})", name)
        assert match, f"{name} is not named as upstream names it"
        moment = datetime.strptime(match.group(1), "%Y%m%d%H%M%S")
        assert started <= moment <= ended, name
        stamps.append(match.group(1))
    # backup_count = 3: the three newest were kept, the older ones deleted.
    assert len(names) == 3 and seen > set(names)
    assert names == sorted(seen)[-3:]

    # Each line is stamped with a second of its file's period; read oldest
    # first the files hold consecutive ticks: nothing lost at a rotation.
    numbers = []
    for name, stamp in zip(names, stamps, strict=True):
        for line in (logs / name).read_text().splitlines():
            assert line.startswith(f"{stamp} ["), (name, line)
            numbers.append(int(line.rpartition(" ")[2]))
    numbers += [int(line.rpartition(" ")[2]) for line in path.read_text().splitlines()]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_timed_rotation_names_match_upstream_circusd(upstream_run: CircusRun) -> None:
    shapes = {}
    for kind in ("ours", "upstream"):
        logs = upstream_run.tmp_path / f"logs-{kind}"
        logs.mkdir()
        path = logs / "timed.log"
        config, endpoint, pubsub = upstream_run.config(kind, timed_section(upstream_run, path))
        daemon = upstream_run.start(kind, config, endpoint, pubsub)
        wait_for(partial(rotated_at_least, path, 2), f"{kind}: two rotations", 30)
        stop(upstream_run, daemon, "ticker")
        names = rotated_names(path)
        for name in names:
            datetime.strptime(name.rpartition(".")[2], "%Y%m%d%H%M%S")  # a valid stamp
        shapes[kind] = {re.sub(r"\d", "N", name) for name in names}
    assert shapes["ours"] == shapes["upstream"] == {"timed.log.NNNNNNNNNNNNNN"}
