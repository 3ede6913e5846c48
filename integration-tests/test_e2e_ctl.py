"""Our circusctl, as installed, against our circusd, as installed: ``--json``,
``listen`` and ``--ssh`` through a real sshd.

circus-ctl's own tests use a scripted fake daemon (for the faults a real one
cannot produce); these check the same options end to end: real replies, real
events, a real tunnel, and nothing left running afterwards (the run's token is
in every client's environment, and so in a tunnel forked by one).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _circus_run import PYTHON, CircusRun, Daemon, Listener, check, children_of, wait_for
from _sshd import running_sshd
from conftest import free_port


def _ours(run: CircusRun, tcp: bool = False) -> Daemon:
    """Our circusd with watchers alpha (2 processes) and beta (1); TCP endpoints if asked."""
    sections = run.watchers({"alpha": 2, "beta": 1})
    if tcp:
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        pubsub = f"tcp://127.0.0.1:{free_port()}"
        config = run.tmp_path / "tcp.ini"
        config.write_text(f"[circus]\nendpoint = {endpoint}\npubsub_endpoint = {pubsub}\n"
                          f"check_delay = 1\n\n{sections}")
    else:
        config, endpoint, pubsub = run.config("ours", sections)
    daemon = run.start("ours", config, endpoint, pubsub)
    daemon.wait_pids("alpha", 2)
    daemon.wait_pids("beta", 1)
    return daemon


def _json(result: Any) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(check(result).stdout)
    return reply


def test_json_prints_the_daemons_replies(circus_run: CircusRun) -> None:
    daemon = _ours(circus_run)

    def ctl(*args: str) -> Any:
        return circus_run.ours_ctl(daemon.endpoint, "--json", *args)

    listed = _json(ctl("list"))
    assert listed["status"] == "ok" and sorted(listed["watchers"]) == ["alpha", "beta"]
    pids = _json(ctl("list", "alpha"))["pids"]
    assert sorted(pids) == sorted(daemon.pids("alpha"))

    pretty = check(ctl("--prettify", "status")).stdout
    status = json.loads(pretty)
    assert pretty == json.dumps(status, indent=2, sort_keys=True) + "\n"
    assert status["statuses"] == {"alpha": "active", "beta": "active"}

    incr = _json(ctl("incr", "alpha", "--waiting"))
    assert incr["status"] == "ok" and incr["numprocesses"] == 3
    assert len(daemon.wait_pids("alpha", 3)) == 3

    stats = _json(ctl("stats", "alpha"))
    assert set(stats["info"]) == {str(pid) for pid in daemon.pids("alpha")}

    # version (ours): the running daemon's circus-core, as circusd --version names it.
    installed = check(circus_run._run([*circus_run.ours_argv("circusd"), "--version"],
                                      dict(os.environ), None, 60)).stdout.split()[-1]
    check(circus_run.ours_ctl(daemon.endpoint, "version"), stdout=installed + "\n")
    assert _json(ctl("version"))["version"] == installed

    # An error reply is still the daemon's reply: printed whole, exit code 0.
    missing = _json(ctl("incr", "nosuch"))
    assert missing["status"] == "error" and "nosuch" in missing["reason"]
    assert isinstance(missing["errno"], int)


def _spawned_until(listener: Listener, daemon: Daemon, watcher: str,
                   spawned: Callable[[], set[int]]) -> set[int]:
    """Add processes to *watcher* until *listener* printed a spawn; return the pids it named.

    A SUB socket subscribes asynchronously: events before that are not missed
    by mistake, they were never meant for it. So keep spawning until one shows.
    """
    def seen() -> set[int]:
        pids = spawned()
        if not pids:
            assert listener.process.poll() is None, listener.close()
            daemon.call("incr", name=watcher, waiting=True)
        return pids

    found: set[int] = wait_for(seen, f"circusctl listen to print a {watcher} spawn", 60)
    return found


def test_listen_prints_the_daemons_events_until_ctrl_c(circus_run: CircusRun) -> None:
    daemon = _ours(circus_run)
    plain = circus_run.ours_listen(daemon.pubsub, "listen", "watcher.alpha.")
    as_json = circus_run.ours_listen(daemon.pubsub, "--json", "listen")
    try:
        line = re.compile(r'watcher\.alpha\.spawn: \{"process_pid": (\d+), "time": [\d.]+\}')

        def plain_spawns() -> set[int]:
            return {int(m.group(1)) for text in list(plain.lines)
                    if (m := line.fullmatch(text))}

        def json_spawns() -> set[int]:
            events = [json.loads(text) for text in list(as_json.lines)]
            return {e["event"]["process_pid"] for e in events
                    if e["topic"] == "watcher.alpha.spawn"}

        _spawned_until(plain, daemon, "alpha", plain_spawns)
        _spawned_until(as_json, daemon, "alpha", json_spawns)
        # Events of another watcher reach the unfiltered listener only.
        daemon.call("incr", name="beta", waiting=True)
        wait_for(lambda: any('"topic": "watcher.beta.spawn"' in text
                             for text in list(as_json.lines)),
                 "the beta spawn in the --json listener")
        assert all(text.startswith("watcher.alpha.") for text in plain.lines), plain.lines
        alive = set(daemon.pids("alpha"))
        assert plain_spawns() <= alive and json_spawns() <= alive
    finally:
        results = [listener.interrupt() for listener in (plain, as_json)]
    assert results == [(0, ""), (0, "")]


def test_ssh_reaches_the_daemon_through_a_tunnel(circus_run: CircusRun,
                                                 tmp_path: Path) -> None:
    daemon = _ours(circus_run, tcp=True)
    (tmp_path / "ssh").mkdir()
    with running_sshd(tmp_path / "ssh", free_port()) as sshd:
        env = circus_run.client_env(dict(os.environ, HOME=str(sshd.home)))
        ssh = ["--ssh", sshd.server, "--ssh_keyfile", str(sshd.key)]
        check(circus_run.ours_ctl(daemon.endpoint, *ssh, "status", env=env),
              stdout="alpha: active\nbeta: active\n")
        reply = _json(circus_run.ours_ctl(daemon.endpoint, *ssh, "--json", "list", "alpha",
                                          env=env))
        assert sorted(reply["pids"]) == sorted(daemon.pids("alpha"))
        check(circus_run.ours_ctl(daemon.endpoint, *ssh, "incr", "beta", "--waiting",
                                  env=env))
        daemon.wait_pids("beta", 2)

        listener = circus_run.ours_listen(daemon.pubsub, *ssh, "--json", "listen", "watcher.",
                                          env=env)
        try:
            # The events come through the tunnel, a process circusctl forked.
            wait_for(lambda: children_of(listener.process.pid), "listen's ssh tunnel", 60)

            def spawns() -> set[int]:
                events = [json.loads(text) for text in list(listener.lines)]
                return {e["event"]["process_pid"] for e in events
                        if e["topic"] == "watcher.alpha.spawn"}

            assert _spawned_until(listener, daemon, "alpha", spawns) <= set(daemon.pids("alpha"))
        finally:
            code, err = listener.interrupt()
        assert (code, err) == (0, "")
    # Tunnels carry the run's token: CircusRun's teardown fails the test if one is left.


def test_tail_and_follow_a_watchers_output(circus_run: CircusRun) -> None:
    """``circusctl tail`` against our circusd: the last lines, then -f until Ctrl-C."""
    code = ("import itertools, sys, time\n"
            "for i in itertools.count():\n"
            "    print('tick', i, flush=True)\n"
            "    print('tock', i, file=sys.stderr, flush=True)\n"
            "    time.sleep(0.1)\n")
    script = circus_run.tmp_path / "chat.py"
    script.write_text(code)
    section = (f"[watcher:chat]\ncmd = {PYTHON} {shlex.quote(str(script))} {circus_run.token}\n"
               "publish_output = true\ngraceful_timeout = 5\n")
    config, endpoint, pubsub = circus_run.config("tail", section)
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    daemon.wait_pids("chat", 1)
    wait_for(lambda: len(check(circus_run.ours_ctl(endpoint, "tail", "chat", "-n", "4"))
                         .stdout.splitlines()) == 4, "four lines to tail")
    last = check(circus_run.ours_ctl(endpoint, "tail", "chat", "-n", "4")).stdout.splitlines()
    # stdout and stderr, in the order they were written.
    assert {line.split()[0] for line in last} == {"tick", "tock"}, last
    follower = circus_run.ours_listen(endpoint, "tail", "chat", "-f", "-n", "1")

    def numbers() -> list[int]:
        return [int(line.split()[1]) for line in list(follower.lines) if line.startswith("tick")]

    wait_for(lambda: len(numbers()) >= 5, "new lines followed")
    seen = numbers()
    # Nothing lost, nothing twice, between the backlog and the live lines.
    assert seen == list(range(seen[0], seen[0] + len(seen))), seen
    code_, err = follower.interrupt()
    assert code_ == 0 and "Traceback" not in err, err
    missing = check(circus_run.ours_ctl(endpoint, "tail", "nosuch"), rc=3)
    assert missing.stderr == "error: program nosuch not found\n"
