"""``circusctl version`` and ``CircusClient.version()`` (ours): the daemon's circus-core version.

A scripted daemon answers here; integration-tests ask a real circusd.
"""

from __future__ import annotations

from typing import Any

import pytest
from circus.client import AsyncCircusClient, CircusClient, UnknownCommandError
from conftest import assert_no_traceback, run_ctl


def test_prints_the_daemon_version(daemon: Any) -> None:
    daemon.replies["version"] = {"version": "9.8.7"}
    result = run_ctl("--endpoint", daemon.endpoint, "version")
    assert (result.returncode, result.stdout, result.stderr) == (0, "9.8.7\n", "")
    assert daemon.last("version")["properties"] == {}
    raw = run_ctl("--endpoint", daemon.endpoint, "version", "--json")
    assert raw.returncode == 0
    assert '"version": "9.8.7"' in raw.stdout


def test_a_daemon_without_the_command_is_a_one_line_error(daemon: Any) -> None:
    # What upstream's circusd answers to a command it does not know.
    daemon.replies["version"] = {"status": "error", "errno": 2,
                                 "reason": "unknown command 'version'"}
    result = run_ctl("--endpoint", daemon.endpoint, "version")
    assert result.returncode == 3
    assert result.stderr == "error: unknown command 'version'\n"
    assert_no_traceback(result)


def test_client_version(daemon: Any) -> None:
    daemon.replies["version"] = {"version": "1.2.3"}
    with CircusClient(daemon.endpoint, timeout=5.0) as client:
        assert client.version() == "1.2.3"
    daemon.replies["version"] = {"status": "error", "errno": 2, "reason": "unknown command"}
    with CircusClient(daemon.endpoint, timeout=5.0) as client, \
            pytest.raises(UnknownCommandError):
        client.version()


async def test_async_client_version(daemon: Any) -> None:
    daemon.replies["version"] = {"version": "1.2.3"}
    async with AsyncCircusClient(daemon.endpoint, timeout=5.0) as client:
        assert await client.version() == "1.2.3"
