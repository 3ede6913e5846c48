"""``[circus] statsd``: circusd runs circusd-stats (from circus-stats) as a watcher.

That circusd-stats then really publishes is proven in integration-tests,
where circus-stats is installed beside circus-core; here the launch itself.
"""

from __future__ import annotations

import shlex
import sys

import pytest
from circus._daemon.from_config import build_arbiter
from circus._setup import statsd as _statsd
from circus.arbiter import Arbiter
from circus.config import parse_config_text
from circus.errors import ConfigError
from conftest import PYTHON

# Runs circusd as if circus-stats were not installed, whatever this venv has.
WITHOUT_STATS = ("import sys; sys.modules['circus.stats'] = None; "
                 "from circus.circusd import main; sys.exit(main())")


@pytest.fixture
def stats_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_statsd, "stats_installed", lambda: True)


def test_statsd_adds_the_circusd_stats_watcher(stats_available: None) -> None:
    arbiter = Arbiter([], endpoint="ipc:///tmp/x-ctl", pubsub_endpoint="ipc:///tmp/x-pub",
                      statsd=True, prometheus="127.0.0.1:9100", loglevel="debug",
                      logoutput="/var/log/circus.log", ssh_server="me@host:22")
    [watcher] = arbiter.watchers
    assert watcher.name == "circusd-stats"
    assert watcher.singleton and watcher.use_sockets and watcher.copy_env
    assert not watcher.close_child_stdout
    assert arbiter.stats_endpoint == "tcp://127.0.0.1:5557"  # upstream's default
    assert shlex.split(watcher.cmd) == [
        sys.executable, "-c", "from circus import stats; stats.main()",
        "--endpoint", "ipc:///tmp/x-ctl", "--pubsub", "ipc:///tmp/x-pub",
        "--statspoint", "tcp://127.0.0.1:5557", "--prometheus", "127.0.0.1:9100",
        "--ssh", "me@host:22", "--log-level", "debug", "--log-output", "/var/log/circus.log",
    ]


def test_statsd_close_outputs_and_no_syslog_log_output(stats_available: None) -> None:
    arbiter = Arbiter([], statsd=True, stats_endpoint="ipc:///tmp/x-stats",
                      statsd_close_outputs=True, logoutput="syslog://localhost:514")
    [watcher] = arbiter.watchers
    assert watcher.close_child_stdout and watcher.close_child_stderr
    argv = shlex.split(watcher.cmd)
    assert argv[argv.index("--statspoint") + 1] == "ipc:///tmp/x-stats"
    assert "--log-output" not in argv and "--prometheus" not in argv


def test_no_statsd_no_watcher() -> None:
    assert Arbiter([], statsd=False).watchers == []


def test_statsd_without_endpoints_is_refused(stats_available: None) -> None:
    with pytest.raises(ConfigError, match="needs both endpoint and pubsub_endpoint"):
        Arbiter([], endpoint=None, statsd=True)


def test_statsd_without_circus_stats_is_refused_by_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_statsd, "stats_installed", lambda: False)
    with pytest.raises(ConfigError, match="pip install circus-stats"):
        Arbiter([], statsd=True)


@pytest.mark.parametrize(("line", "key"), [
    ("stats_endpoint = ipc:///tmp/x-stats", "stats_endpoint"),
    ("prometheus = 127.0.0.1:9100", "prometheus"),
])
def test_stats_endpoint_or_prometheus_turn_statsd_on(
    stats_available: None, caplog: pytest.LogCaptureFixture, line: str, key: str,
) -> None:
    config = parse_config_text(f"[circus]\n{line}\n", "/etc/circus.ini")
    arbiter = build_arbiter(config)
    assert arbiter.statsd is True
    assert [w.name for w in arbiter.watchers] == ["circusd-stats"]
    assert f"[circus] {key} is set, so statsd is turned on" in caplog.text


def test_bad_prometheus_value_names_the_option() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text("[circus]\nprometheus = localhost\n", "/etc/circus.ini")
    message = str(info.value)
    assert "prometheus = localhost" in message and "host:port" in message


@pytest.mark.parametrize("text", [
    "[circus]\nstatsd = True\n",
    "[circus]\nstats_endpoint = ipc:///tmp/circus-test-stats\n",
])
def test_circusd_without_circus_stats_says_so_and_exits_1(circusd, text: str) -> None:
    config = str(circusd.write("stats.ini", text))
    proc = circusd.start(argv=[PYTHON, "-c", WITHOUT_STATS, config])
    assert proc.popen.wait(timeout=20) == 1
    err = proc.stderr()
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1].startswith(f"circusd: error: {config}, [circus]")
    assert "pip install circus-stats" in err
    assert proc.children() == []
