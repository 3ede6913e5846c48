"""circusctl listen prints decoded events from a real PUB socket and ends cleanly on Ctrl-C."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import (
    assert_no_traceback,
    ctl_argv,
    ctl_ctrl_c_elsewhere,
    ctl_env,
    ctrl_c_elsewhere,
    interrupt,
)


def _start(publisher, *args) -> tuple[subprocess.Popen[str], bytes]:
    proc = subprocess.Popen(ctl_argv("--endpoint", publisher.endpoint, *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ctl_env())
    try:
        topic = publisher.wait_subscribed()
    except AssertionError:
        proc.kill()
        proc.communicate()
        raise
    return proc, topic


def test_programs_started_by_the_tests_get_ctrl_c():
    # `make test &` runs the suite with SIGINT ignored, which every program it
    # starts would inherit; conftest's pytest_configure undoes that, or the
    # Ctrl-C tests below would hang instead of testing circusctl.
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, check=True)
    assert result.stdout == "True\n"


def test_prints_topic_and_json_payload(publisher):
    proc, topic = _start(publisher, "listen")
    assert topic == b""  # no topics given: everything
    publisher.publish("watcher.web.spawn", {"process_pid": 123, "time": 1.5})
    publisher.publish("watcher.web.reap", {"process_pid": 123, "time": 2.5, "exit_code": 0})
    first = proc.stdout.readline()  # type: ignore[union-attr]
    second = proc.stdout.readline()  # type: ignore[union-attr]
    code, out, err = interrupt(proc, "circusctl listen")
    assert first == 'watcher.web.spawn: {"process_pid": 123, "time": 1.5}\n'
    assert second == 'watcher.web.reap: {"process_pid": 123, "time": 2.5, "exit_code": 0}\n'
    assert (code, out, err) == (0, "", "")


def test_json_lines_and_topic_filter(publisher):
    proc, topic = _start(publisher, "--json", "listen", "watcher.web.")
    assert topic == b"watcher.web."
    publisher.publish("watcher.web.spawn", {"process_pid": 7, "time": 1.0})
    line = proc.stdout.readline()  # type: ignore[union-attr]
    code, _, err = interrupt(proc, "circusctl listen")
    assert json.loads(line) == {"topic": "watcher.web.spawn",
                                "event": {"process_pid": 7, "time": 1.0}}
    assert (code, err) == (0, "")


def test_ctrl_c_without_events_exits_0_silently(publisher):
    proc, _ = _start(publisher, "listen", "watcher.")
    assert interrupt(proc, "circusctl listen") == (0, "", "")


def test_ctrl_c_that_misses_the_blocking_receive_still_ends_it(publisher):
    # The signal lands while the receive waits but does not interrupt it (CI
    # once saw listen ignore Ctrl-C this way): waiting on the signal wakeup fd
    # too is what ends it, with no event to come.
    with ctl_ctrl_c_elsewhere("--endpoint", publisher.endpoint, "listen") as proc:
        publisher.wait_subscribed()
        publisher.publish("watcher.web.spawn", {"process_pid": 1, "time": 1.0})
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("watcher.web.spawn: ")
        assert ctrl_c_elsewhere(proc, "circusctl listen") == (0, "", "")


def test_listen_to_nothing_says_so():
    proc = subprocess.run(ctl_argv("--endpoint", "tcp://127.0.0.1:1", "listen"),
                          capture_output=True, text=True, env=ctl_env(), timeout=30)
    assert proc.returncode == 1
    assert "pubsub endpoint at tcp://127.0.0.1:1" in proc.stderr
    assert_no_traceback(proc)
