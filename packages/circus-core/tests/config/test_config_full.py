"""Load a realistic configuration with includes, env sections and every kind of section."""

from __future__ import annotations

import os
import pwd
import signal
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from circus.config import CIRCUS_OPTIONS, WATCHER_OPTIONS, CircusConfig, load_config

FIXTURES = Path(__file__).parent / "fixtures"
USER = pwd.getpwuid(os.getuid()).pw_name

def _mapping(value: object) -> dict[str, object]:
    """A mapping value of a loaded watcher (env, streams, rlimits), as a dict."""
    assert isinstance(value, Mapping), value
    return dict(value)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> CircusConfig:
    monkeypatch.setenv("CIRCUS_TEST_RUNDIR", "/run/circus")
    monkeypatch.setenv("CIRCUS_TEST_USER", USER)
    monkeypatch.setenv("WEB_PORT", "8000")
    monkeypatch.setenv("WINDOW", "180")
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.delenv("QUEUE", raising=False)
    return load_config(FIXTURES / "full.ini")


def test_circus_section(config: CircusConfig) -> None:
    assert config.path == str(FIXTURES / "full.ini")
    circus = config.circus
    assert set(circus) == set(CIRCUS_OPTIONS)
    assert circus["endpoint"] == "ipc:///run/circus/circus.sock"
    assert circus["pubsub_endpoint"] == "tcp://127.0.0.1:15556"
    assert circus["check_delay"] == 2.5  # the main file wins over full.d/20-circus.ini
    assert circus["httpd_port"] == 9090  # ...which fills in what the main file left unset
    assert circus["statsd"] is True
    assert circus["httpd"] is False
    assert circus["loglevel"] == "warning"
    assert circus["pidfile"] == str(FIXTURES / "run" / "circusd.pid")
    assert circus["umask"] == 0o22
    assert circus["warmup_delay"] == 0.25
    assert circus["include_dir"] == "full.d"
    assert circus["multicast_endpoint"] is None  # discovery is opt-in
    assert circus["stream_backend"] == "thread"


def test_watchers_in_file_order(config: CircusConfig) -> None:
    assert [w["name"] for w in config.watchers] == ["Web", "worker-low", "beat"]


def test_web_watcher(config: CircusConfig) -> None:
    web = config.watcher("web")
    assert set(WATCHER_OPTIONS) <= set(web)
    assert web["cmd"] == "/opt/venv/bin/python -m myapp.wsgi --fd $(circus.sockets.web)"
    assert web["args"] == "--workers $(circus.numprocesses)\n--worker-id $(circus.wid)"
    assert web["use_sockets"] is True
    assert web["numprocesses"] == 4
    assert web["working_dir"] == str(FIXTURES)
    assert web["uid"] == USER
    assert web["gid"] == 0
    assert web["warmup_delay"] == 0.5
    assert web["graceful_timeout"] == 10.0
    assert web["stop_signal"] == signal.SIGQUIT
    assert web["max_retry"] == -1
    assert web["priority"] == 10
    assert web["umask"] == 0o27
    assert web["copy_env"] is True
    assert web["rlimits"] == {"nofile": 4096, "core": None}
    assert web["hooks"] == {
        "before_start": ("myapp.hooks.wait_for_db", True),
        "after_spawn": ("myapp.hooks.register", False),
    }
    assert web["stdout_stream"] == {
        "class": "FileStream",
        "filename": str(FIXTURES / "logs" / "web.out.log"),
        "max_bytes": 250 * 1024 * 1024,
        "backup_count": 5,
    }
    assert web["stderr_stream"] == {
        "class": "TimedRotatingFileStream",
        "filename": "/var/log/web.err.log",
        "rotate_when": "MIDNIGHT",
        "utc": True,
        "time_format": "%Y-%m-%d %H:%M:%S",
    }
    assert web["flapping.max_retry"] == "3"
    assert web["env"] == {
        "PYTHON": "/opt/venv/bin/python",
        "APP_HOME": "/srv/app",
        "PATH": "/srv/app/bin:/usr/bin",
        "PRICE": "$5",
    }


def test_worker_env_layers(config: CircusConfig) -> None:
    worker = config.watcher("worker-low")
    # [env:worker-low] comes after [env:worker-*, beat], so it wins.
    assert _mapping(worker["env"])["QUEUE"] == "urgent"
    assert _mapping(worker["env"])["CAKE"] == "lie"
    assert _mapping(worker["env"])["Mixed_Case"] == "kept"
    # ((circus.env.python)) falls back to a case-insensitive match; QUEUE comes
    # from the watcher's own env, which beats [env] and os.environ.
    assert worker["cmd"] == "/opt/venv/bin/python worker.py --queue urgent"
    assert worker["send_hup"] is True
    assert worker["max_age"] == 3600.0
    assert worker["max_age_variance"] == 120.0
    assert worker["stdout_stream"] == {}
    assert worker["hooks"] == {}


def test_included_watcher(config: CircusConfig) -> None:
    beat = config.watcher("BEAT")
    assert beat["singleton"] is True
    assert beat["autostart"] is False
    assert beat["stdin_socket"] == "admin"
    assert _mapping(beat["env"])["QUEUE"] == "low"


def test_sockets(config: CircusConfig) -> None:
    web, admin = config.sockets
    assert web["name"] == "web"
    assert web["host"] == "0.0.0.0"
    assert web["port"] == 8000
    assert web["family"] == "AF_INET"
    assert web["backlog"] == 512
    assert web["so_reuseport"] is True
    assert admin["name"] == "admin"
    assert admin["path"] == str(FIXTURES / "run" / "admin.sock")
    assert admin["family"] == "AF_UNIX"
    assert admin["umask"] == 8  # upstream's decimal spelling still loads
    assert admin["replace"] is True


def test_plugins(config: CircusConfig) -> None:
    flapping, statsd = config.plugins
    assert dict(flapping) == {
        "name": "flapping",
        "use": "circus.plugins.flapping.Flapping",
        "attempts": "2",
        "window": "180",
    }
    assert statsd["use"] == "circus.plugins.statsd.StatsdEmitter"
    assert statsd["port"] == "8125"


def test_global_env(config: CircusConfig) -> None:
    assert dict(config.env) == {
        "PYTHON": "/opt/venv/bin/python",
        "APP_HOME": "/srv/app",
        "PATH": "/srv/app/bin:/usr/bin",
        "PRICE": "$5",
    }


def test_model_is_read_only(config: CircusConfig) -> None:
    assert isinstance(config.circus, MappingProxyType)
    web = config.watchers[0]
    assert isinstance(web, MappingProxyType)
    assert isinstance(web["env"], MappingProxyType)
    with pytest.raises(TypeError):
        web["env"]["X"] = "1"  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.path = "/elsewhere"  # type: ignore[misc]


def test_loading_twice_gives_equal_configs(config: CircusConfig) -> None:
    again = load_config(FIXTURES / "full.ini")
    assert again.watchers == config.watchers
    assert again.circus == config.circus
