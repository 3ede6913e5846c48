"""The typed public surface, as a downstream project sees it.

Small programs using the stream classes and ``circus.config.load_config``,
and the library API (``get_arbiter``, ``Arbiter``, ``Watcher``, ``Process``),
are checked with ``mypy --strict`` against the *installed* package (its
py.typed and annotations), with no casts, then run; programs with typing
mistakes must be refused, which shows the annotations are precise rather than
``Any``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from circus.stream import PipeReader, Stream, StreamMessage, build_stream

GOOD = '''
"""A downstream program using circus-core's typed public surface."""

from __future__ import annotations

import os
import queue
import sys
from pathlib import Path

from circus.config import CircusConfig, load_config
from circus.stream import (
    FancyStdoutStream,
    FileStream,
    QueueStream,
    StdoutStream,
    Stream,
    StreamMessage,
    TimedRotatingFileStream,
    WatchedFileStream,
    build_stream,
)


class Shouting:
    """A custom stream written against the protocol."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, data: StreamMessage) -> None:
        self.seen.append(data["data"].upper())

    def close(self) -> None:
        self.seen.append(b"closed")

    def reopen(self) -> None:
        self.seen.append(b"reopened")


def main(directory: Path) -> None:
    message: StreamMessage = {"pid": os.getpid(), "name": "stdout", "data": b"hello\\n"}
    shouting = Shouting()
    streams: list[Stream] = [
        FileStream(directory / "size.log", max_bytes="1M", backup_count=3, time_format="%H"),
        WatchedFileStream(str(directory / "watched.log")),
        TimedRotatingFileStream(
            directory / "timed.log", rotate_when="MIDNIGHT", rotate_interval="2", utc=True
        ),
        StdoutStream(),
        FancyStdoutStream(color="green", time_format=None),
        shouting,
        build_stream({"class": "FileStream", "filename": str(directory / "built.log")}),
    ]
    for stream in streams:
        stream(message)
        stream.reopen()
        stream.close()
    inbox: queue.Queue[StreamMessage] = queue.Queue()
    QueueStream(inbox)(message)
    received = inbox.get_nowait()
    pid: int = received["pid"]
    data: bytes = received["data"]
    config: CircusConfig = load_config(directory / "circus.ini")
    names = [str(watcher["name"]) for watcher in config.watchers]
    ports = [socket["port"] for socket in config.sockets]
    uses = [plugin["use"] for plugin in config.plugins]
    print(pid == os.getpid(), data.decode().strip(), names, ports, uses, shouting.seen)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
'''

# Each line is a mistake the annotations must catch: (code, text of mypy's error).
MISTAKES = [
    ("FileStream(42)", 'incompatible type "int"; expected "str | PathLike[str]"'),
    ('FileStream("a.log", max_bytes=1.5)', 'incompatible type "float"; expected "int | str"'),
    ('text: str = QueueStream().queue.get()["data"]', 'expression has type "bytes"'),
    ('msg: StreamMessage = {"pid": 1, "name": "stdin", "data": b""}', 'item "name"'),
    ('port: int = load_config("c.ini").sockets[0]["port"]', 'expression has type "object"'),
    ('build_stream({"class": "FileStream"}).flush()', '"Stream" has no attribute "flush"'),
]

BAD_HEADER = """\
from __future__ import annotations

from circus.config import load_config
from circus.stream import FileStream, QueueStream, StreamMessage, build_stream
"""

CONFIG = """\
[watcher:web]
cmd = sleep 60

[socket:front]
host = 127.0.0.1
port = 8765

[plugin:audit]
use = mypkg.plugins.Audit
"""


def _mypy(tmp_path: Path, program: str) -> subprocess.CompletedProcess[str]:
    """Run ``mypy --strict`` on ``program`` the way a downstream project would."""
    source = tmp_path / "program.py"
    source.write_text(program)
    env = {key: value for key, value in os.environ.items() if key != "MYPYPATH"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "",
         "--cache-dir", str(tmp_path / "mypy-cache"), "--python-version", "3.10", str(source)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_downstream_program_passes_mypy_strict_and_runs(tmp_path: Path) -> None:
    program = textwrap.dedent(GOOD)
    checked = _mypy(tmp_path, program)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found in 1 source file" in checked.stdout

    (tmp_path / "circus.ini").write_text(CONFIG)
    ran = subprocess.run([sys.executable, str(tmp_path / "program.py"), str(tmp_path)],
                         cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr.decode()
    last = ran.stdout.decode().splitlines()[-1]
    assert last == ("True hello ['web'] [8765] ['mypkg.plugins.Audit'] "
                    "[b'HELLO\\n', b'reopened', b'closed']")
    for name in ("size.log", "watched.log", "timed.log", "built.log"):
        assert (tmp_path / name).read_bytes().endswith(b"hello\n"), name


def test_typing_mistakes_are_reported(tmp_path: Path) -> None:
    program = BAD_HEADER + "".join(f"{code}\n" for code, _ in MISTAKES)
    checked = _mypy(tmp_path, program)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    first = BAD_HEADER.count("\n") + 1
    for line, (code, expected) in enumerate(MISTAKES, start=first):
        errors = [out for out in checked.stdout.splitlines() if f"program.py:{line}: error" in out]
        assert any(expected in out for out in errors), (code, checked.stdout)


LIBRARY = """
\"\"\"A downstream program embedding circus through its library API.\"\"\"

from __future__ import annotations

import asyncio
import sys

from circus import get_arbiter
from circus.arbiter import Arbiter
from circus.process import Process, ProcessGone, ProcessInfo
from circus.watcher import Watcher

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def owned_loop(directory: str) -> list[int]:
    \"\"\"get_arbiter: start() runs its own loop, blocks, and returns None.\"\"\"
    seen: list[int] = []

    def started(arbiter: Arbiter) -> None:
        seen.extend(arbiter.get_watcher("sleeper").pids)
        arbiter.stop()  # ends the blocked start() below

    arbiter: Arbiter = get_arbiter(
        [{"cmd": SLEEP[0], "args": SLEEP[1:], "name": "sleeper", "numprocesses": 2}],
        controller=f"ipc://{directory}/ctl", pubsub_endpoint=f"ipc://{directory}/pub",
    )
    result = arbiter.start(started)
    return seen if result is None else []


async def callers_loop() -> tuple[int, int]:
    \"\"\"Arbiter on the caller's loop: start() and stop() return Tasks to await.\"\"\"
    watcher = Watcher("w", SLEEP[0], args=SLEEP[1:], numprocesses=3, graceful_timeout=2.0)
    arbiter = Arbiter([watcher], None, None, loop=asyncio.get_running_loop())
    idle = arbiter.create_watcher("idle", SLEEP[0], args=SLEEP[1:], autostart=False)
    assert idle.status() == "stopped"
    starting = arbiter.start()
    if isinstance(starting, asyncio.Task):
        await starting
    running: int = arbiter.numprocesses()
    stopping = arbiter.stop()
    if stopping is not None:
        await stopping
    return running, arbiter.numprocesses()


def describe(info: ProcessInfo | ProcessGone) -> str:
    if "error" in info:
        return info["error"]
    rss: int = info["mem_info1"]
    return f"{info['pid']} {rss > 0}"


def standalone() -> tuple[str, float, int]:
    \"\"\"A Process without a watcher.\"\"\"
    process = Process("p", 1, SLEEP[0], args=SLEEP[1:], pipe_stdout=False, pipe_stderr=False)
    try:
        alive = describe(process.info())
        age: float = process.age()
    finally:
        process.stop()
    return alive.split()[1], age, process.status


if __name__ == "__main__":
    print(len(owned_loop(sys.argv[1])), asyncio.run(callers_loop()), standalone()[::2])
"""

# Mistakes against the library API: (code, text of mypy's error).
LIBRARY_MISTAKES = [
    ("get_arbiter([{'cmd': 'x'}]).start().result()",
     'Item "None" of "Task[None] | Future[None] | None" has no attribute "result"'),
    ("asyncio.run(Arbiter([]).stop())", 'incompatible type "Task[None] | None"'),
    ("Watcher('w', 'cmd', numprocesses=2.5)", 'incompatible type "float"; expected "int"'),
    ("Process('p', '1', 'cmd')", 'incompatible type "str"; expected "int"'),
    ("Process('p', 1, 'cmd').info()['cmdline']", 'TypedDict "ProcessGone" has no key "cmdline"'),
    ("name: int = Arbiter([]).get_watcher('w').name", 'expression has type "str"'),
    ("Arbiter([], sockets={'web': 8080})", '"str": "SocketLike | Mapping[str, object]"'),
    ("get_arbiter([], context='zmq')", 'incompatible type "str"'),
    ("get_arbiter([], warmup_delay='soon')", 'incompatible type "str"; expected "float"'),
    ("Arbiter([]).create_watcher('w', 'cmd', numprocesses='2')",
     'incompatible type "str"; expected "int"'),
]

LIBRARY_HEADER = """\\
from __future__ import annotations

import asyncio

from circus import get_arbiter
from circus.arbiter import Arbiter
from circus.process import Process
from circus.watcher import Watcher
"""


def test_library_program_passes_mypy_strict_and_runs(tmp_path: Path) -> None:
    program = textwrap.dedent(LIBRARY)
    checked = _mypy(tmp_path, program)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found in 1 source file" in checked.stdout

    ran = subprocess.run([sys.executable, str(tmp_path / "program.py"), str(tmp_path)],
                         cwd=tmp_path, capture_output=True, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr.decode()
    # 2 pids seen by the owned loop's callback; 3 running then 0 on the
    # caller's loop; the stand-alone process had RSS and is UNEXISTING (2) after stop.
    assert ran.stdout.decode().splitlines()[-1] == "2 (3, 0) ('True', 2)"


def test_library_typing_mistakes_are_reported(tmp_path: Path) -> None:
    program = LIBRARY_HEADER + "".join(f"{code}\n" for code, _ in LIBRARY_MISTAKES)
    checked = _mypy(tmp_path, program)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    first = LIBRARY_HEADER.count("\n") + 1
    for line, (code, expected) in enumerate(LIBRARY_MISTAKES, start=first):
        errors = [out for out in checked.stdout.splitlines() if f"program.py:{line}: error" in out]
        assert any(expected in out for out in errors), (code, checked.stdout)


class UpstreamStyle:
    """A custom stream as upstream's documentation wrote them: untyped, callable only."""

    def __init__(self):
        self.seen = []

    def __call__(self, data):
        self.seen.append(data["data"])


def test_untyped_upstream_stream_still_works() -> None:
    stream = build_stream({"class": f"{__name__}.UpstreamStyle"})
    assert isinstance(stream, Stream)
    message: StreamMessage = {"pid": 7, "name": "stderr", "data": b"late\n"}
    stream(message)
    stream.reopen()
    stream.close()
    assert getattr(stream, "seen", None) == [b"late\n"]


def test_pipe_reader_refuses_an_unknown_pipe_name() -> None:
    loop = asyncio.new_event_loop()
    read_fd, write_fd = os.pipe()
    try:
        with pytest.raises(ValueError, match="name: expected 'stdout' or 'stderr', got 'stdin'"):
            PipeReader(read_fd, pid=1, name="stdin", sink=print, loop=loop)
    finally:
        os.close(read_fd)
        os.close(write_fd)
        loop.close()
