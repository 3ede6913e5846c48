"""OUR circusctl drives upstream circusd 0.19 (from the throwaway peer venv).

Exit codes and console output are the ones upstream's own circusctl gives
against the same daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _circus_run import CircusRun, Daemon, alive, check, wait_for


@dataclass
class Upstream:
    """Upstream's daemon and the run that drives it with our circusctl."""

    run: CircusRun
    daemon: Daemon

    def ctl(self, *args: str, rc: int = 0, stdout: str | None = None) -> str:
        """Our circusctl against upstream circusd; check rc (and stdout); return stdout."""
        return check(self.run.ours_ctl(self.daemon.endpoint, *args), rc, stdout).stdout


@pytest.fixture
def upstream(upstream_run: CircusRun) -> Iterator[Upstream]:
    """Upstream circusd 0.19 with watchers alpha (2 processes) and beta (1)."""
    config, endpoint, pubsub = upstream_run.config(
        "upstream", upstream_run.watchers({"alpha": 2, "beta": 1}))
    daemon = upstream_run.start("upstream", config, endpoint, pubsub)
    daemon.wait_pids("alpha", 2)
    daemon.wait_pids("beta", 1)
    yield Upstream(upstream_run, daemon)


def test_list_and_status(upstream: Upstream) -> None:
    alpha = upstream.daemon.pids("alpha")
    upstream.ctl("list", stdout="alpha,beta\n")
    upstream.ctl("list", "alpha", stdout=",".join(map(str, alpha)) + "\n")
    upstream.ctl("status", stdout="alpha: active\nbeta: active\n")
    upstream.ctl("status", "beta", stdout="active\n")
    missing = upstream.run.ours_ctl(upstream.daemon.endpoint, "list", "nosuch")
    check(missing, rc=3, stdout="")
    assert "program nosuch not found" in missing.stderr


def test_stop_and_start(upstream: Upstream) -> None:
    [old] = upstream.daemon.pids("beta")
    upstream.ctl("stop", "beta", stdout="ok\n")
    wait_for(lambda: upstream.daemon.call("status", name="beta")["status"] == "stopped",
             "beta to stop")
    wait_for(lambda: not alive(old), "beta's process to end")
    upstream.ctl("status", "beta", stdout="stopped\n")
    upstream.ctl("start", "beta", "--waiting", stdout="ok\n")
    upstream.ctl("status", "beta", stdout="active\n")
    [new] = upstream.daemon.wait_pids("beta", 1)
    assert new != old
    upstream.ctl("stop", "--waiting", stdout="ok\n")
    upstream.ctl("status", stdout="alpha: stopped\nbeta: stopped\n")
    upstream.ctl("start", stdout="ok\n")
    wait_for(lambda: upstream.daemon.call("status")["statuses"]
             == {"alpha": "active", "beta": "active"}, "every watcher to start")


def test_incr_and_decr(upstream: Upstream) -> None:
    upstream.ctl("incr", "alpha", stdout="ok\n")
    upstream.daemon.wait_pids("alpha", 3)
    # Upstream's global lock may be held by its own periodic manage pass for a
    # moment, which it reports as errno 5 "arbiter is already running": ask again.
    def waiting(*args: str, expect: str) -> bool:
        result = upstream.run.ours_ctl(upstream.daemon.endpoint, *args)
        if result.returncode == 3 and "already running" in result.stderr:
            return False
        check(result, stdout=expect)
        return True

    wait_for(lambda: waiting("incr", "alpha", "2", "--waiting", expect="5\n"), "incr")
    upstream.daemon.wait_pids("alpha", 5)
    wait_for(lambda: waiting("decr", "alpha", "--waiting", expect="4\n"), "decr")
    wait_for(lambda: waiting("decr", "alpha", expect="ok\n"), "decr")
    upstream.daemon.wait_pids("alpha", 3)
    # Upstream counts a killed process until it reaps it: poll.
    wait_for(lambda: upstream.ctl("numprocesses", "alpha") == "3\n", "numprocesses 3")


def test_stats(upstream: Upstream) -> None:
    alpha = upstream.daemon.pids("alpha")
    [beta] = upstream.daemon.pids("beta")
    lines = upstream.ctl("stats").splitlines()
    assert lines[0] == "alpha:" and lines[3] == "beta:", lines
    for line, pid in zip(lines[1:3] + lines[4:5], [*alpha, beta], strict=True):
        fields = line.split()
        assert fields[:2] == [f"{pid}:", str(pid)], line
        assert len(fields) == 10, line
    one = upstream.ctl("stats", "beta").splitlines()
    assert one[0] == "beta:" and one[1].split()[:2] == [f"{beta}:", str(beta)], one


def test_quit(upstream: Upstream) -> None:
    pids = upstream.daemon.pids("alpha") + upstream.daemon.pids("beta")
    upstream.ctl("quit", "--waiting", stdout="ok\n")
    upstream.daemon.process.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in pids), "upstream's processes to end")
