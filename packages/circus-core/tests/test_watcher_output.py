"""Output of watched processes, end to end: child → pipe → reader → stream → file.

Everything runs through a real watcher under an arbiter; nothing here builds a
PipeReader by hand (tests/stream/ does that).
"""

from __future__ import annotations

import os
import queue
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from circus.watcher import Watcher
from conftest import ArbiterHarness, apoll, python_cmd

HOOKMODS = Path(__file__).parent / "hookmods"
MakeArbiter = Callable[..., Any]

PROCS = 8
LINES_EACH = 25_000


def file_stream(path: Path, **options: Any) -> dict[str, Any]:
    return {"class": "FileStream", "filename": str(path), **options}


def numbered_line(wid: int, i: int) -> bytes:
    """Line ``i`` of worker ``wid``: its length varies so chunk cuts land anywhere."""
    return b"%d %d %s.\n" % (wid, i, b"x" * (i % 97))


# Writes its lines as one blob in 4093-byte writes (a prime: no write ends a line), then
# exits; argv[1] is the wid, argv[2] the line count, argv[3] "stay" to sleep afterwards.
BLOB_WRITER = python_cmd(
    "import os, sys, time\n"
    "wid, count = int(sys.argv[1]), int(sys.argv[2])\n"
    "blob = b''.join(b'%d %d %s.\\n' % (wid, i, b'x' * (i % 97)) for i in range(count))\n"
    "view = memoryview(blob)\n"
    "while view:\n"
    "    view = view[os.write(1, view[:4093]):]\n"
    "if sys.argv[3:] == ['stay']:\n"
    "    time.sleep(60)\n"
)


async def started(make_arbiter: MakeArbiter, watcher: Watcher) -> ArbiterHarness:
    harness: ArbiterHarness = await make_arbiter(watcher)
    return harness


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


async def test_file_streams_receive_stdout_and_stderr(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    code = (
        "import sys, time\n"
        "print('to out 1'); print('to err 1', file=sys.stderr)\n"
        "print('to out 2'); print('to err 2', file=sys.stderr)\n"
        "time.sleep(60)"
    )
    watcher = Watcher("out", cmd=python_cmd(code), stdout_stream=file_stream(out),
                      stderr_stream=file_stream(err))
    await started(make_arbiter, watcher)
    await apoll(lambda: len(lines_of(out)) == 2 and len(lines_of(err)) == 2)
    await watcher.stop()
    assert out.read_bytes() == b"to out 1\nto out 2\n"
    assert err.read_bytes() == b"to err 1\nto err 2\n"


async def test_last_words_of_a_crashing_process_are_kept(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    code = (
        "import os, sys\n"
        "print('starting up')\n"
        "sys.stderr.write('fatal: no newline before the end')\n"
        "sys.stdout.write('last words')\n"
        "os._exit(1)"
    )
    watcher = Watcher("crash", cmd=python_cmd(code), respawn=False,
                      stdout_stream=file_stream(out), stderr_stream=file_stream(err))
    harness = await started(make_arbiter, watcher)
    await apoll(lambda: watcher.status() == "stopped")
    assert [e["exit_code"] for t, e in harness.events if t.endswith(".reap")] == [1]
    assert out.read_bytes() == b"starting up\nlast words"
    assert err.read_bytes() == b"fatal: no newline before the end"


async def test_output_written_while_being_stopped_is_kept(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    out = tmp_path / "out.log"
    ready = tmp_path / "ready"
    # On SIGTERM it writes 3 MB (three times the pipe) and a final unterminated word.
    code = (
        "import os, signal, sys, time\n"
        "def bye(*_):\n"
        "    for i in range(30000):\n"
        "        sys.stdout.write('bye %05d %s\\n' % (i, 'y' * 90))\n"
        "    sys.stdout.write('THE END')\n"
        "    sys.stdout.flush()\n"
        "    os._exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(60)"
    )
    watcher = Watcher("bye", cmd=python_cmd(code), stdout_stream=file_stream(out))
    await started(make_arbiter, watcher)
    await apoll(ready.exists)
    await watcher.stop()
    # No polling: once stop() returned, the pipe was drained and everything written.
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"THE END"
    assert lines[:-1] == [b"bye %05d %s" % (i, b"y" * 90) for i in range(30000)]


async def test_output_of_a_process_killed_after_graceful_timeout_is_kept(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    out = tmp_path / "out.log"
    ready = tmp_path / "ready"
    code = (
        "import os, signal, sys, time\n"
        "def refuse(*_):\n"
        "    sys.stdout.write('got SIGTERM, carrying on\\n')\n"
        "    sys.stdout.write('still here, no newline')\n"
        "signal.signal(signal.SIGTERM, refuse)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "while True:\n"
        "    time.sleep(60)"
    )
    watcher = Watcher("stubborn", cmd=python_cmd(code), graceful_timeout=0.3,
                      stdout_stream=file_stream(out))
    harness = await started(make_arbiter, watcher)
    await apoll(ready.exists)
    await watcher.stop()
    assert [e["exit_code"] for t, e in harness.events if t.endswith(".reap")] == [-9]
    assert out.read_bytes() == b"got SIGTERM, carrying on\nstill here, no newline"


async def test_many_processes_at_full_speed_lose_and_tear_no_line(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    """The acceptance test: 8 processes x 25,000 lines into one FileStream."""
    out = tmp_path / "all.log"
    watcher = Watcher("flood", cmd=BLOB_WRITER, args=["$(circus.wid)", str(LINES_EACH)],
                      numprocesses=PROCS, respawn=False, stdout_stream=file_stream(out))
    harness = await started(make_arbiter, watcher)
    await apoll(lambda: watcher.status() == "stopped", timeout=60)
    reaps = [e["exit_code"] for t, e in harness.events if t.endswith(".reap")]
    assert reaps == [0] * PROCS, "every writer must run to completion"
    content = out.read_bytes()
    assert content.endswith(b"\n")
    lines = content.splitlines(keepends=True)
    assert len(lines) == PROCS * LINES_EACH
    expected = [numbered_line(w, i) for w in range(1, PROCS + 1) for i in range(LINES_EACH)]
    assert sorted(lines) == sorted(expected)


async def test_time_format_prefixes_every_line(make_arbiter: MakeArbiter, tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    count = 2000
    watcher = Watcher("stamped", cmd=BLOB_WRITER, args=["7", str(count), "stay"],
                      stdout_stream=file_stream(out, time_format="%Y-%m-%d %H:%M:%S"))
    await started(make_arbiter, watcher)
    await apoll(lambda: len(lines_of(out)) >= count)
    (pid,) = watcher.pids
    await watcher.stop()
    prefix = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(\d+)\] \| ")
    lines = lines_of(out)
    assert len(lines) == count
    for i, line in enumerate(lines):
        match = prefix.match(line)
        assert match, line
        assert int(match.group(1)) == pid
        assert line[match.end():] == numbered_line(7, i)


async def test_reopen_streams_follows_a_moved_log_file(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    out = tmp_path / "app.log"
    rotated = tmp_path / "app.log.1"
    code = (
        "import itertools, time\n"
        "for i in itertools.count():\n"
        "    print(i)\n"
        "    time.sleep(0.005)"
    )
    watcher = Watcher("rotating", cmd=python_cmd(code), stdout_stream=file_stream(out))
    await started(make_arbiter, watcher)
    await apoll(lambda: len(lines_of(out)) >= 5)
    os.rename(out, rotated)
    # No await in between: only reopen_streams() can have created the new file.
    watcher.reopen_streams()
    assert out.exists()
    await apoll(lambda: len(lines_of(out)) >= 5)
    await watcher.stop()
    old, new = lines_of(rotated), lines_of(out)
    numbers = [int(line) for line in old + new]
    assert numbers == list(range(len(numbers))), "a line was lost or repeated across the move"
    assert int(new[0]) == int(old[-1]) + 1


async def test_streams_survive_stop_and_start(make_arbiter: MakeArbiter, tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    code = "import os, time\nprint('hello from', os.getpid())\ntime.sleep(60)"
    watcher = Watcher("again", cmd=python_cmd(code), stdout_stream=file_stream(out))
    await started(make_arbiter, watcher)
    await apoll(lambda: len(lines_of(out)) == 1)
    first = watcher.pids[0]
    await watcher.stop()
    await watcher.start()
    second = watcher.pids[0]
    await apoll(lambda: len(lines_of(out)) == 2)
    assert lines_of(out) == [b"hello from %d\n" % first, b"hello from %d\n" % second]


@pytest.fixture
def collecting_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The tests/hookmods/collecting_stream module, importable by its dotted path."""
    monkeypatch.syspath_prepend(str(HOOKMODS))
    sys.modules.pop("collecting_stream", None)
    import collecting_stream

    yield collecting_stream
    sys.modules.pop("collecting_stream", None)


async def test_a_dotted_stream_class_receives_data_dicts(
    make_arbiter: MakeArbiter, collecting_stream: Any
) -> None:
    code = (
        "import sys, time\n"
        "print('hello'); print('oops', file=sys.stderr)\n"
        "time.sleep(60)"
    )
    watcher = Watcher(
        "custom", cmd=python_cmd(code),
        stdout_stream={"class": "collecting_stream.CollectingStream", "label": "out"},
        stderr_stream={"class": "collecting_stream.CollectingStream", "label": "err"},
    )
    await started(make_arbiter, watcher)
    streams = {s.label: s for s in collecting_stream.INSTANCES}
    assert set(streams) == {"out", "err"}
    await apoll(lambda: streams["out"].received and streams["err"].received)
    (pid,) = watcher.pids
    await watcher.stop()
    assert streams["out"].received == [{"pid": pid, "name": "stdout", "data": b"hello\n"}]
    assert streams["err"].received == [{"pid": pid, "name": "stderr", "data": b"oops\n"}]
    assert streams["out"].closed and streams["err"].closed


async def test_queue_stream_puts_data_dicts_on_its_queue(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    out_q: queue.Queue[dict[str, Any]] = queue.Queue()
    err_q: queue.Queue[dict[str, Any]] = queue.Queue()
    code = "import sys, time\nprint('one')\nprint('two', file=sys.stderr)\ntime.sleep(60)"
    watcher = Watcher("queued", cmd=python_cmd(code),
                      stdout_stream={"class": "QueueStream", "queue": out_q},
                      stderr_stream={"class": "QueueStream", "queue": err_q})
    await started(make_arbiter, watcher)
    await apoll(lambda: not out_q.empty() and not err_q.empty())
    (pid,) = watcher.pids
    await watcher.stop()
    assert out_q.get_nowait() == {"pid": pid, "name": "stdout", "data": b"one\n"}
    assert err_q.get_nowait() == {"pid": pid, "name": "stderr", "data": b"two\n"}
    assert out_q.empty() and err_q.empty()
