"""Many children writing flat out through PipeReaders into one FileStream."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from circus.stream import FileStream, PipeReader

PROCS = 8
LINES = 25_000

Spawn = Callable[[str], tuple["subprocess.Popen[bytes]", int]]


def numbered_lines_code(proc: int, count: int) -> str:
    """A ``python -c`` one-liner printing ``"<proc> <i> " + "x" * (i % 200)`` lines.

    Written through the default 8 KiB stdout buffer, so the pipe sees chunks
    that cut lines anywhere: the reader has to put them back together.
    """
    return (
        f"import sys; w = sys.stdout.buffer.write;"
        f" [w(b'{proc} %d %s\\n' % (i, b'x' * (i % 200))) for i in range({count})]"
    )


@pytest.mark.parametrize("time_format", [None, "%Y-%m-%d %H:%M:%S"])
def test_every_line_arrives_once_and_intact(
    tmp_path: Path, spawn_python: Spawn, time_format: str | None
) -> None:
    path = tmp_path / "all.log"
    stream = FileStream(str(path), time_format=time_format)

    async def main() -> dict[int, int]:
        loop = asyncio.get_running_loop()
        readers = []
        pids = {}
        for proc in range(PROCS):
            child, fd = spawn_python(numbered_lines_code(proc, LINES))
            pids[child.pid] = proc
            reader = PipeReader(fd, pid=child.pid, name="stdout", sink=stream, loop=loop)
            reader.start()
            readers.append((child, reader))
        for child, reader in readers:
            assert await reader.wait_closed(timeout=120), f"no EOF from {child.pid}"
            assert child.wait(timeout=10) == 0
        return pids

    pids = asyncio.run(main())
    stream.close()

    prefix = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(\d+)\] \| ")
    seen = [bytearray(LINES) for _ in range(PROCS)]
    content = path.read_bytes()
    assert content.endswith(b"\n")
    lines = content.split(b"\n")[:-1]
    assert len(lines) == PROCS * LINES
    for line in lines:
        if time_format:
            match = prefix.match(line)
            assert match, line[:80]
            pid = int(match.group(1))
            line = line[match.end() :]
        proc_text, number_text, payload = line.split(b" ")
        proc, number = int(proc_text), int(number_text)
        if time_format:
            assert pids[pid] == proc, "prefix names another process"
        assert payload == b"x" * (number % 200), f"line {proc}/{number} damaged"
        assert not seen[proc][number], f"line {proc}/{number} written twice"
        seen[proc][number] = 1
    assert all(all(flags) for flags in seen)
