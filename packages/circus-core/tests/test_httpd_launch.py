"""``[circus] httpd = True``: circusd binds the socket circushttpd and runs circushttpd on it.

That the console then serves pages is proven in integration-tests, where
circus-web is installed beside circus-core; here the launch itself.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from circus._daemon.from_config import build_arbiter
from circus._setup import httpd as _httpd
from circus.arbiter import Arbiter
from circus.config import parse_config_text
from circus.errors import ConfigError
from circus.sockets import CircusSocket


@pytest.fixture
def web_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_httpd, "httpd_installed", lambda: True)


def test_httpd_adds_the_socket_and_the_watcher(web_available: None, tmp_path: Path) -> None:
    config = parse_config_text(
        "[circus]\nendpoint = ipc:///tmp/h-ctl\npubsub_endpoint = ipc:///tmp/h-pub\n"
        "httpd = true\nhttpd_host = 127.0.0.1\nhttpd_port = 8181\nhttpd_close_outputs = true\n"
        "loglevel = debug\n", tmp_path / "circus.ini")
    arbiter = build_arbiter(config)
    [watcher] = arbiter.watchers
    assert watcher.name == "circushttpd"
    assert watcher.singleton and watcher.use_sockets and watcher.copy_env
    assert watcher.close_child_stdout and watcher.close_child_stderr
    socket = arbiter.sockets["circushttpd"]
    assert isinstance(socket, CircusSocket)
    assert (socket.host, socket.port) == ("127.0.0.1", 8181)
    assert shlex.split(watcher.cmd) == [
        sys.executable, "-c", "from circus.web import main; main()",
        "--fd", "$(circus.sockets.circushttpd)", "--endpoint", "ipc:///tmp/h-ctl",
        "--log-level", "debug",
    ]


def test_no_httpd_no_socket_no_watcher() -> None:
    arbiter = Arbiter([])
    assert (arbiter.watchers, arbiter.sockets) == ([], {})


def test_a_socket_of_that_name_already_defined_is_refused(web_available: None) -> None:
    with pytest.raises(ConfigError, match=r"\[socket:circushttpd\] already exists"):
        Arbiter([], httpd=True, sockets={"circushttpd": {"host": "127.0.0.1", "port": 9999}})


def test_without_circus_web_the_error_names_the_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_httpd, "httpd_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"needs circushttpd.*pip install circus-web"):
        Arbiter([], httpd=True)
