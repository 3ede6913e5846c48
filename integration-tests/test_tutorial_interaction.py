"""The manual's Tutorial, "Interaction": the circusctl shell against the demo config.

A copy of ``examples/circus.ini`` (with its programs) runs under our circusd,
rewritten only to use this test's ipc endpoints. Our circusctl's shell reads
the tutorial's commands from stdin: ``help``, ``list <w>``, ``incr <w> N``,
``list <w>``; then ``circusctl quit`` ends circusd. The manual's sample adds
one pid for ``incr webapp 4``; circusctl 0.19 sends ``nb=4`` and upstream adds
four, which is what we check.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from _circus_run import CircusRun, alive, check, wait_for
from conftest import free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The manual's "Documented commands" of the tutorial (circusctl 0.7.1).
MANUAL_DOCUMENTED = {
    "add", "get", "list", "numprocesses", "quit", "rm", "start", "stop", "decr",
    "globaloptions", "listen", "numwatchers", "reload", "set", "stats", "dstats", "incr",
    "listsockets", "options", "restart", "signal", "status"}
PROMPT = "(circusctl) "


def _demo(run: CircusRun) -> tuple[Path, str, str]:
    """The demo (config and programs) in the test's directory, on fresh ipc endpoints."""
    demo = run.tmp_path / "examples"
    demo.mkdir()
    for program in EXAMPLES.glob("*.py"):
        shutil.copy(program, demo)
    (demo / "logs").mkdir()
    endpoint, pubsub = run.endpoints("demo")
    text = (EXAMPLES / "circus.ini").read_text()
    assert text.count("[circus]\n") == 1
    text = text.replace("[circus]\n", f"[circus]\nendpoint = {endpoint}\n"
                                      f"pubsub_endpoint = {pubsub}\n"
                                      f"stats_endpoint = {endpoint}-stats\n")
    # The demo's Prometheus endpoint (statsd is on) gets a free port too.
    assert text.count("prometheus = 127.0.0.1:9108\n") == 1
    text = text.replace("prometheus = 127.0.0.1:9108\n",
                        f"prometheus = 127.0.0.1:{free_port()}\n")
    # The demo's web socket listens on 8080; the copy gets a free port.
    assert text.count("port = 8080\n") == 1
    text = text.replace("port = 8080\n", f"port = {free_port()}\n")
    # Its web console listens on 8090; the copy's on a free port.
    assert text.count("httpd_port = 8090\n") == 1
    text = text.replace("httpd_port = 8090\n", f"httpd_port = {free_port()}\n")
    # Its statsd plugin sends to 127.0.0.1:8125; the copy's counters go nowhere.
    assert text.count("port = 8125\n") == 1
    text = text.replace("port = 8125\n", f"port = {free_port()}\n")
    config = demo / "circus.ini"
    config.write_text(text)
    return config, endpoint, pubsub


def _section(text: str, title: str) -> set[str]:
    """The command names listed under *title* in cmd's help output."""
    if title not in text:
        return set()
    lines = text.split(title, 1)[1].splitlines()[2:]  # skip the title's "=====" line
    names: set[str] = set()
    for line in lines:
        if not line.strip():
            break
        names.update(line.split())
    return names


def test_tutorial_shell_session(circus_run: CircusRun) -> None:
    config, endpoint, pubsub = _demo(circus_run)
    daemon = circus_run.start("ours", config, endpoint, pubsub, cwd=config.parent)
    workers = daemon.wait_pids("worker", 3)
    wait_for(lambda: daemon.call("status")["statuses"]
             == {"circushttpd": "active", "circusd-stats": "active", "clock": "active",
                 "flaky": "active",
                 "plugin:flapping": "active", "plugin:statsd": "active",
                 "web": "active", "worker": "active"},
             "the demo's watchers to be active")

    # `incr` replies before its spawns (without --waiting, as upstream); a human
    # typing the next command never notices, a pipe may. --waiting makes the
    # piped session deterministic and prints the new count instead of "ok".
    session = check(circus_run.ours_ctl(endpoint, stdin="help\nlist worker\n"
                                        "incr worker 4 --waiting\nlist worker\n"))
    out = session.stdout
    # The banner, then `status` of every watcher (circusd-stats too, as in the
    # manual's tutorial), then the prompt.
    banner = re.match(r"circusctl \S+\ncircusd-stats: active\ncircushttpd: active\n"
                      r"clock: active\nflaky: active\n"
                      r"plugin:flapping: active\nplugin:statsd: active\n"
                      r"web: active\nworker: active\n", out)
    assert banner, out
    replies = out[banner.end():].split(PROMPT)
    # One chunk per command read, plus the final prompt before end of input.
    assert replies[0] == "", out
    helped, listed, incremented, relisted, tail = replies[1:]
    assert "Documented commands (type help <topic>):" in helped, helped
    documented = _section(helped, "Documented commands (type help <topic>):")
    assert documented >= MANUAL_DOCUMENTED, MANUAL_DOCUMENTED - documented
    assert "EOF" in _section(helped, "Undocumented commands:"), helped
    assert "EOF" not in documented, helped
    assert listed == ",".join(map(str, workers)) + "\n"
    assert incremented == "7\n"
    pids = [int(pid) for pid in relisted.strip().split(",")]
    assert pids[:3] == workers and len(pids) == 7 and len(set(pids)) == 7, relisted
    assert tail.strip() == ""
    daemon.wait_pids("worker", 7)

    check(circus_run.ours_ctl(endpoint, "quit"), stdout="ok\n")
    daemon.process.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in pids), "the workers to end")
    assert "Traceback" not in daemon.log_text(), daemon.log_text()
