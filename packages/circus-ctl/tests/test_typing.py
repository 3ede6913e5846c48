"""A downstream program type-checks against the installed circus.client under ``mypy --strict``.

The programs live in a temporary directory, so mypy can only find
``circus.client`` in site-packages, through the ``py.typed`` the wheel ships.
One program must pass without a cast; the other holds mistakes mypy must
report, which it would not if the client's types were ``Any``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import circus.client

CLEAN = '''
from __future__ import annotations

import asyncio
from typing import assert_type

from circus.client import (
    AsyncCircusClient,
    AsyncEventSubscriber,
    CallError,
    CircusClient,
    EventPayload,
    EventSubscriber,
    JSONValue,
    ProcessInfo,
    Reply,
    raise_for_status,
)


def pids(client: CircusClient, name: str) -> list[int]:
    return client.call("list", name=name)["pids"]


def states(client: CircusClient) -> dict[str, str]:
    return client.call("status")["statuses"]


def numprocesses(client: CircusClient, name: str) -> int:
    return raise_for_status(client.call("numprocesses", name=name))["numprocesses"]


def env(client: CircusClient, name: str) -> JSONValue:
    return client.call("options", name=name)["options"]["env"]


def cpu(client: CircusClient, name: str, pid: int) -> float | str:
    info = client.call("stats", name=name, process=pid, extended=False)["info"]
    if isinstance(info, str):  # the process vanished
        return info
    return info["cpu"]


def watcher_stats(client: CircusClient, name: str) -> dict[str, ProcessInfo | str]:
    return client.call("stats", name=name)["info"]


def other(client: CircusClient, command: str) -> str | None:
    reply = client.call(command, waiting=True)
    assert_type(reply, Reply)
    if reply.get("status") == "error":
        return reply["reason"]
    return None


def checked() -> int:
    with CircusClient("tcp://127.0.0.1:5555", timeout=1.0, check=True) as client:
        try:
            started = client.call("start", name="web", waiting=True)["info"]
        except CallError as exc:
            assert_type(exc.errno, int)
            return exc.errno
        return len(started["started"]) if started else 0


def events() -> None:
    with EventSubscriber(topics=["watcher.web."]) as subscriber:
        event = subscriber.recv(timeout=0.5)
        if event is not None:
            topic, payload = event
            assert_type(topic, str)
            assert_type(payload, EventPayload)
            pid: int | None = payload.get("process_pid")
            print(pid, payload.get("time"))


async def concurrently() -> list[str]:
    async with AsyncCircusClient() as client:
        listing, dstats = await asyncio.gather(client.call("list"), client.call("dstats"))
        assert_type(dstats["info"]["pid"], int)
        names = listing.get("watchers", [])
        count = (await client.call("numwatchers"))["numwatchers"]
        assert_type(count, int)
    async with AsyncEventSubscriber(topics=["watcher."]) as subscriber:
        async for topic, payload in subscriber:
            print(topic, payload.get("exit_code"))
            break
    return names
'''

# Each mistake, and the line of it mypy must report.
MISTAKES = '''
from __future__ import annotations

from circus.client import AsyncCircusClient, CircusClient


def typo(client: CircusClient) -> object:
    return client.call("list")["pid"]  # E: typeddict-item


def wrong_type(client: CircusClient) -> str:
    return client.call("numwatchers")["numwatchers"]  # E: return-value


async def not_awaited(client: AsyncCircusClient) -> object:
    return client.call("status")["statuses"]  # E: index


def misspelt_name() -> object:
    import circus.client

    return circus.client.CircusClinet  # E: attr-defined
'''


def _mypy(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(source)
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\nwarn_unreachable = True\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini",
         "--cache-dir", str(tmp_path / ".mypy_cache"), name],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_wheel_ships_py_typed():
    assert (Path(circus.client.__file__).parent / "py.typed").is_file()


def test_a_strict_downstream_program_needs_no_cast(tmp_path):
    result = _mypy(tmp_path, "downstream.py", CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout
    assert "cast(" not in CLEAN and "Any" not in CLEAN


def test_mypy_catches_misuse_of_the_client(tmp_path):
    result = _mypy(tmp_path, "mistakes.py", MISTAKES)
    expected = {
        (number, line.split("# E: ")[1])
        for number, line in enumerate(MISTAKES.splitlines(), start=1) if "# E: " in line
    }
    reported = {
        (int(match[1]), match[2])
        for match in re.finditer(r"^mistakes\.py:(\d+): error: .*\[([a-z-]+)\]$",
                                 result.stdout, re.MULTILINE)
    }
    assert reported == expected, result.stdout + result.stderr
