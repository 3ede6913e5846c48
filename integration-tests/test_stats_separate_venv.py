"""circusd-stats needs only circus-ctl: it runs from a venv without circus-core.

The venv gets the circus-ctl and circus-stats wheels that ``make`` built (and
their dependencies from the package index), nothing else of ours. Its
circusd-stats is pointed at a circusd running from the main venv, as it would
be pointed at a circusd on another host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _circus_run import CircusRun
from _stats_feed import INFO_KEYS, StatsFeed

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "build" / "wheels"


def _wheel(name: str) -> Path:
    found = sorted(WHEELS.glob(f"{name}-*.whl"))
    assert found, f"no {name} wheel in {WHEELS}: run `make install` first"
    return found[-1]


@pytest.fixture(scope="module")
def stats_only_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("stats-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(_wheel("circus_ctl")), str(_wheel("circus_stats"))],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, f"cannot build the stats-only venv:\n{result.stderr}"
    yield root


def _venv_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def test_the_venv_has_circus_stats_and_not_circus_core(stats_only_venv: Path) -> None:
    probe = ("import importlib.util as u, circus.client, circus.stats, circus.top; "
             "print(u.find_spec('circus.arbiter'), u.find_spec('circus.watcher'))")
    result = subprocess.run([str(stats_only_venv / "bin" / "python"), "-c", probe],
                            capture_output=True, text=True, env=_venv_env(), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None"]


def test_circusd_stats_from_the_venv_reports_a_running_circusd(
        stats_only_venv: Path, circus_run: CircusRun) -> None:
    config, endpoint, pubsub = circus_run.config("remote", circus_run.watchers({"sleepers": 2}))
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    pids = daemon.wait_pids("sleepers", 2)
    stats = f"ipc://{circus_run.sockdir}/remote-stats.sock"
    log = circus_run.tmp_path / "circusd-stats.log"
    with open(log, "wb") as out:
        aggregator = subprocess.Popen(
            [str(stats_only_venv / "bin" / "circusd-stats"), "--endpoint", endpoint,
             "--pubsub", pubsub, "--statspoint", stats],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=circus_run.client_env(_venv_env()), start_new_session=True)
    feed = StatsFeed(stats)
    try:
        for pid in pids:
            info = feed.wait(f"stat.sleepers.{pid}")
            assert set(info) >= INFO_KEYS
        assert feed.wait(f"stat.circus.{daemon.process.pid}")["name"] == "circusd"
        daemon.call("incr", name="sleepers")
        feed.wait("stat.sleepers", lambda p: len(p["pid"]) == 3)
    finally:
        feed.close()
        aggregator.send_signal(signal.SIGTERM)
        code = aggregator.wait(timeout=15)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "Traceback" not in text
