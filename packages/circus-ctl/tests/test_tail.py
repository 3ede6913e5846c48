"""``circusctl tail NAME [-n N] [-f]`` and ``CircusClient.tail``.

A scripted daemon answers ``tail`` and ``globaloptions`` (its pubsub endpoint
is a real XPUB, so a test knows when ``-f`` subscribed); integration-tests
run the same against a real circusd.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from circus.client import CallError, CircusClient
from conftest import (
    assert_no_traceback,
    ctl_argv,
    ctl_ctrl_c_elsewhere,
    ctl_env,
    ctrl_c_elsewhere,
    interrupt,
    run_ctl,
)


def _line(data: str, at: float, pid: int = 42, stream: str = "stdout") -> dict[str, Any]:
    return {"pid": pid, "stream": stream, "data": data, "time": at}


BACKLOG = [_line("one\n", 10.0), _line("two\n", 10.0, stream="stderr"), _line("three", 11.0)]


def test_prints_the_last_lines_as_written(daemon: Any) -> None:
    daemon.replies["tail"] = {"lines": BACKLOG}
    result = run_ctl("--endpoint", daemon.endpoint, "tail", "web", "-n", "3")
    assert result.returncode == 0, result.stderr
    # A line without its newline (last words of a process) still ends one.
    assert result.stdout == "one\ntwo\nthree\n"
    assert daemon.last("tail")["properties"] == {"name": "web", "lines": 3}
    default = run_ctl("--endpoint", daemon.endpoint, "tail", "web")
    assert default.returncode == 0
    assert daemon.last("tail")["properties"] == {"name": "web", "lines": 10}


def test_nothing_kept_prints_nothing(daemon: Any) -> None:
    daemon.replies["tail"] = {"lines": []}
    result = run_ctl("--endpoint", daemon.endpoint, "tail", "web", "--lines", "0")
    assert (result.returncode, result.stdout) == (0, "")


def test_an_error_reply_is_one_line_and_exit_3(daemon: Any) -> None:
    daemon.replies["tail"] = {"status": "error", "errno": 3,
                              "reason": "watcher web keeps no output: set its publish_output "
                                        "option to true"}
    result = run_ctl("--endpoint", daemon.endpoint, "tail", "web")
    assert result.returncode == 3
    assert result.stderr == ("error: watcher web keeps no output: set its publish_output "
                             "option to true\n")
    assert_no_traceback(result)


@pytest.mark.parametrize("bad", ["many", "-2"])
def test_a_bad_line_count_is_a_usage_error(daemon: Any, bad: str) -> None:
    result = run_ctl("--endpoint", daemon.endpoint, "tail", "web", "-n", bad)
    assert result.returncode == 2
    assert "--lines" in result.stderr and repr(bad) in result.stderr
    assert_no_traceback(result)
    assert not [r for r in daemon.requests if r["command"] == "tail"]


def test_json_prints_the_reply(daemon: Any) -> None:
    daemon.replies["tail"] = {"lines": BACKLOG[:1]}
    result = run_ctl("--endpoint", daemon.endpoint, "--json", "tail", "web")
    assert '"lines": [{"pid": 42, "stream": "stdout", "data": "one\\n"' in result.stdout


def test_follow_prints_the_backlog_then_new_lines_until_ctrl_c(daemon: Any,
                                                               publisher: Any) -> None:
    daemon.replies["globaloptions"] = {"options": {"pubsub_endpoint": publisher.endpoint}}
    daemon.replies["tail"] = {"lines": BACKLOG}
    proc = subprocess.Popen(ctl_argv("--endpoint", daemon.endpoint, "tail", "My Web", "-f"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ctl_env())
    try:
        # It subscribes to the watcher's output topic only, before asking for the backlog.
        # (circusd's spelling of the name in topics: lowercased, spaces as underscores)
        assert publisher.wait_subscribed() == b"watcher.my_web.output"
        daemon.last("tail")
        assert proc.stdout is not None
        assert [proc.stdout.readline() for _ in range(3)] == ["one\n", "two\n", "three\n"]
        # Already in the backlog (stamped no later than its newest line): skipped.
        publisher.publish("watcher.my_web.output", _line("three", 11.0))
        publisher.publish("watcher.my_web.output", _line("four\n", 12.0, pid=43))
        publisher.publish("watcher.my_web.output", _line("five\n", 12.5, stream="stderr"))
        assert proc.stdout.readline() == "four\n"
        assert proc.stdout.readline() == "five\n"
    finally:
        code, out, err = interrupt(proc, "circusctl tail -f")
    assert code == 0 and out == ""
    assert "Traceback" not in err and err == ""


def test_follow_ends_on_a_ctrl_c_that_misses_the_blocking_receive(daemon: Any,
                                                                  publisher: Any) -> None:
    # See test_listen: the signal does not interrupt the receive it lands beside.
    daemon.replies["globaloptions"] = {"options": {"pubsub_endpoint": publisher.endpoint}}
    daemon.replies["tail"] = {"lines": BACKLOG}
    with ctl_ctrl_c_elsewhere("--endpoint", daemon.endpoint, "tail", "web", "-f") as proc:
        publisher.wait_subscribed()
        assert proc.stdout is not None
        assert [proc.stdout.readline() for _ in range(3)] == ["one\n", "two\n", "three\n"]
        publisher.publish("watcher.web.output", _line("four\n", 12.0))
        assert proc.stdout.readline() == "four\n"
        assert ctrl_c_elsewhere(proc, "circusctl tail -f") == (0, "", "")


def test_follow_with_no_event_channel_says_so(daemon: Any) -> None:
    daemon.replies["globaloptions"] = {"options": {"pubsub_endpoint": None}}
    result = run_ctl("--endpoint", daemon.endpoint, "tail", "web", "-f")
    assert result.returncode == 1
    assert "no event channel" in result.stderr
    assert_no_traceback(result)


def test_the_client_call(daemon: Any) -> None:
    daemon.replies["tail"] = lambda request: {"lines": BACKLOG[-request["properties"]["lines"]:]}
    with CircusClient(daemon.endpoint, timeout=5) as client:
        assert client.tail("web", lines=2) == BACKLOG[1:]
        assert daemon.last("tail")["properties"] == {"name": "web", "lines": 2}
    daemon.replies["tail"] = {"status": "error", "errno": 3, "reason": "program web not found"}
    with CircusClient(daemon.endpoint, timeout=5) as client, pytest.raises(CallError) as info:
        client.tail("web")
    assert "program web not found" in str(info.value)


def test_the_async_client_call(daemon: Any) -> None:
    import asyncio

    from circus.client import AsyncCircusClient

    daemon.replies["tail"] = {"lines": BACKLOG}

    async def ask() -> list[Any]:
        client = AsyncCircusClient(daemon.endpoint, timeout=5)
        try:
            return list(await client.tail("web", lines=3))
        finally:
            await client.close()

    assert asyncio.run(ask()) == BACKLOG
    assert daemon.last("tail")["properties"] == {"name": "web", "lines": 3}


def test_tail_in_the_shell(daemon: Any, tmp_path: Any) -> None:
    daemon.replies["status"] = {"statuses": {"web": "active"}}
    daemon.replies["tail"] = {"lines": BACKLOG[:2]}
    result = run_ctl("--endpoint", daemon.endpoint, input="tail web -n 2\ntail web -n x\n",
                     env=ctl_env(HOME=str(tmp_path)))
    assert result.returncode == 0
    assert "(circusctl) one\ntwo\n" in result.stdout
    assert "tail: error: --lines: expected an integer, got 'x'" in result.stderr
    assert [r["command"] for r in daemon.requests] == ["status", "tail"]
    assert_no_traceback(result)
