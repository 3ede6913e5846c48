"""The pure parts of use_papa: names, endpoints, whole lines, wids and exit codes."""

from __future__ import annotations

import os
import re
import signal
import sys

import pytest
from circus._papa import names
from circus._papa.kernel import PapaError, client_address, import_papa
from circus._papa.lines import MAX_PENDING, LineJoiner
from circus._papa.watching import wait_status
from circus._watching.spawn import build_argv
from circus._watching.wids import WidPool


def test_names_follow_upstreams_scheme_in_lower_case() -> None:
    assert names.process_name("Web", 3) == "circus.web.3"
    assert names.process_pattern("Web") == "circus.web.*"
    assert names.socket_name("API") == "circus.api"
    assert names.numprocesses_key("Web") == "circus.web.numprocesses"


def test_wids_come_back_from_names_of_this_watcher_only() -> None:
    assert names.wid_of("web", "circus.web.12") == 12
    assert names.wid_of("Web", "circus.web.12") == 12
    assert names.wid_of("web", "circus.webber.1") is None
    assert names.wid_of("web", "circus.web.numprocesses") is None
    assert names.wid_of("web", "other.web.1") is None


def test_a_socket_reference_is_rewritten_for_papa_when_the_argv_is_built() -> None:
    variables = {"sockets.web": names.socket_reference("Web"), "wid": 1}
    argv = build_argv("server --fd $(circus.sockets.WEB) --wid $(circus.wid)", None,
                      shell=False, shell_args=None, variables=variables, env={})
    assert argv == ["server", "--fd", "$(socket.circus.web.fileno)", "--wid", "1"]


@pytest.mark.parametrize("bad", ["a:b", "a*", "a b"])
def test_names_papa_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"watcher {bad!r} cannot use papa")):
        names.check_name("watcher", bad)


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("tcp://127.0.0.1:20202", 20202),
    ("tcp://localhost:9000", 9000),
    ("ipc:///run/papa.sock", "/run/papa.sock"),
    ("/run/papa.sock", "/run/papa.sock"),
])
def test_endpoints_become_what_papas_client_takes(endpoint: str, expected: int | str) -> None:
    assert client_address(endpoint) == expected


@pytest.mark.parametrize(("endpoint", "message"), [
    ("tcp://10.0.0.1:20202", "papa listens on 127.0.0.1 only"),
    ("ipc://run/papa.sock", "the ipc path must be absolute"),
    ("udp://127.0.0.1:1", "papa_endpoint 'udp://127.0.0.1:1'"),
])
def test_unusable_endpoints_are_named(endpoint: str, message: str) -> None:
    with pytest.raises(PapaError, match=message):
        client_address(endpoint)


def test_a_missing_papa_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "papa", None)  # makes the import fail
    with pytest.raises(PapaError, match=r"pip install 'circus-core\[papa\]'"):
        import_papa()


def test_pieces_of_a_line_are_joined_and_stamped_with_the_first_piece() -> None:
    lines = LineJoiner()
    assert lines.add(("p.1", "stdout"), b"12", 1.0) == (b"", 1.0)
    assert lines.add(("p.1", "stderr"), b"oops\n", 1.5) == (b"oops\n", 1.5)
    assert lines.add(("p.1", "stdout"), b"3\n45", 2.0) == (b"123\n", 1.0)
    assert lines.add(("p.2", "stdout"), b"x", 2.5) == (b"", 2.5)
    assert lines.flush("p.1") == [(("p.1", "stdout"), b"45", 2.0)]
    assert lines.flush() == [(("p.2", "stdout"), b"x", 2.5)]
    assert lines.flush() == []


def test_an_overlong_line_is_not_held_back() -> None:
    lines = LineJoiner()
    chunk = b"x" * MAX_PENDING
    assert lines.add(("p.1", "stdout"), chunk, 1.0) == (chunk, 1.0)
    assert lines.flush() == []


def test_an_adopted_wid_is_claimed_and_the_gaps_stay_free() -> None:
    pool = WidPool()
    pool.claim(3)
    pool.claim(5)
    assert [pool.take(), pool.take(), pool.take(), pool.take()] == [1, 2, 4, 6]
    pool.release(2)
    pool.claim(2)
    assert pool.take() == 7


@pytest.mark.parametrize(("code", "returncode"), [(0, 0), (7, 7), (-signal.SIGKILL, -9)])
def test_papas_exit_codes_become_wait_statuses(code: int, returncode: int) -> None:
    assert os.waitstatus_to_exitcode(wait_status(code)) == returncode
