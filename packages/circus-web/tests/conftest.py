"""Real circusd (+ circusd-stats) daemons, real circushttpd processes, plain HTTP clients.

Every daemon gets its own ipc directory and free ports, is stopped at
teardown, and must leave no child behind.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:
    from selenium import webdriver

BIN = Path(sys.executable).parent
CIRCUSD = str(BIN / "circusd")
CIRCUSHTTPD = str(BIN / "circushttpd")
CIRCUSCTL = str(BIN / "circusctl")
# A worker printing a numbered line with its pid twice a second, burning a little CPU.
WORKER = ("import os, time\n"
          "n = 0\n"
          "while True:\n"
          "    n += 1\n"
          "    print(f'{os.getpid()} line {n}', flush=True)\n"
          "    sum(range(30000))\n"
          "    time.sleep(0.5)\n")


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{proc.args!r} ignored SIGTERM") from None


class Circusd:
    """One circusd with circusd-stats, on ipc endpoints of its own."""

    def __init__(self, tmp_path: Path, name: str = "a") -> None:
        self.dir = tmp_path / f"circusd-{name}"
        self.dir.mkdir()
        self.ipc = Path(tempfile.mkdtemp(prefix=f"cweb-{name}-", dir="/tmp"))
        self.endpoint = f"ipc://{self.ipc}/ctl"
        self.pubsub = f"ipc://{self.ipc}/pub"
        self.stats = f"ipc://{self.ipc}/stats"
        (self.dir / "worker.py").write_text(WORKER)
        self.proc: subprocess.Popen[bytes] | None = None
        self.descendants: set[psutil.Process] = set()

    def watcher(self, name: str, numprocesses: int = 1, extra: str = "") -> str:
        return (f"[watcher:{name}]\ncmd = {sys.executable} -u worker.py\n"
                f"working_dir = {self.dir}\nnumprocesses = {numprocesses}\n"
                f"copy_env = True\n{extra}\n")

    def start(self, sections: str, circus_extra: str = "") -> None:
        ini = self.dir / "circus.ini"
        ini.write_text(
            f"[circus]\nendpoint = {self.endpoint}\npubsub_endpoint = {self.pubsub}\n"
            f"stats_endpoint = {self.stats}\nstatsd = True\ncheck_delay = 0\n{circus_extra}\n"
            + sections)
        with open(self.dir / "circusd.log", "ab") as log:
            self.proc = subprocess.Popen([CIRCUSD, str(ini)], cwd=self.dir, env=dict(os.environ),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(lambda: self._answers() or self.proc is None or self.proc.poll() is not None,
                 20, "circusd's control socket")
        assert self.proc.poll() is None, (self.dir / "circusd.log").read_text()

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.ipc / "ctl"))
            except OSError:
                return False
        return True

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        from circus.client import CircusClient

        with CircusClient(self.endpoint, timeout=15) as client:
            return dict(client.call(command, **props))

    def pids(self, watcher: str) -> list[int]:
        return sorted(int(p) for p in self.call("list", name=watcher).get("pids", []))

    def circusctl(self, *args: str) -> str:
        out = subprocess.run([CIRCUSCTL, "--endpoint", self.endpoint, *args],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.descendants.update(psutil.Process(self.proc.pid).children(recursive=True))
            code = _stop(self.proc, 30)
            leftovers = [p for p in self.descendants if p.is_running()
                         and p.status() != psutil.STATUS_ZOMBIE]
            for proc in leftovers:
                proc.kill()
            assert not leftovers, f"processes left behind: {leftovers}"
            assert code == 0, f"circusd exited {code}"
        shutil.rmtree(self.ipc, ignore_errors=True)


class Web:
    """One circushttpd process."""

    def __init__(self, tmp_path: Path, args: list[str], scheme: str = "http") -> None:
        self.port = free_port()
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.log = tmp_path / f"circushttpd-{self.port}.log"
        argv = [CIRCUSHTTPD, "--port", str(self.port), "--log-output", str(self.log),
                "--poll-interval", "0.5", *args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        wait_for(lambda: self._listening() or self.proc.poll() is not None, 20,
                 "circushttpd to listen")
        assert self.proc.poll() is None, self.proc.communicate()

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def close(self) -> None:
        code = _stop(self.proc)
        _out, err = self.proc.communicate()
        assert code == 0, f"circushttpd exited {code}: {err.decode()}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """A cookie-keeping HTTP client that logs in as a browser would."""

    def __init__(self, base: str, context: Any = None) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers: list[Any] = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, path: str, fields: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as reply:
                return reply.status, dict(reply.headers), reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def xsrf(self) -> str:
        """The XSRF token, as a page's ``<meta name="xsrf">`` gives it to scripts."""
        for cookie in self.jar:
            if cookie.name == "_xsrf":
                return str(cookie.value)
        _status, _, body = self.request("GET", "/login")
        found = re.search(r'name="_xsrf" value="([^"]+)"', body)
        assert found, body
        return found.group(1)

    def login(self, user: str, password: str) -> int:
        token = self.xsrf()
        status, _, _ = self.request("POST", "/login", {"username": user, "password": password,
                                                       "_xsrf": token})
        return status

    def post(self, path: str, fields: dict[str, str], xsrf: bool = True) -> tuple[int, Any]:
        headers = {"X-XSRFToken": self.xsrf()} if xsrf else {}
        status, _, body = self.request("POST", path, fields, headers)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def state(self) -> dict[str, Any]:
        status, _, body = self.request("GET", "/api/state")
        assert status == 200, (status, body)
        return dict(json.loads(body))


class EventStream:
    """An SSE client on a thread; events collect in ``events``."""

    def __init__(self, base: str, path: str = "/api/events", headers: dict[str, str] | None = None,
                 cookie: str | None = None) -> None:
        host, port = base.split("://")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        hdrs = dict(headers or {})
        if cookie:
            hdrs["Cookie"] = cookie
        self.conn.request("GET", path, headers=hdrs)
        self.response = self.conn.getresponse()
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = "message"
        with contextlib.suppress(Exception):
            while True:
                line = self.response.readline()
                if not line:
                    return
                text = line.decode().rstrip("\n")
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    with self.lock:
                        self.events.append((event, json.loads(text[6:])))
                elif not text:
                    event = "message"

    def first(self, predicate: Callable[[str, Any], bool], timeout: float = 15.0,
              what: str = "an event") -> tuple[str, Any]:
        def look() -> tuple[str, Any] | None:
            with self.lock:
                return next((e for e in self.events if predicate(*e)), None)
        found: tuple[str, Any] = wait_for(look, timeout, what)
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()
        self.thread.join(5)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., Circusd]]:
    """Start circusd daemons; each is stopped and checked for leftovers at teardown."""
    started: list[Circusd] = []

    def start(sections: str, name: str = "a", circus_extra: str = "") -> Circusd:
        daemon = Circusd(tmp_path, name)
        started.append(daemon)
        daemon.start(sections, circus_extra)
        return daemon

    yield start
    for daemon in started:
        daemon.close()


@pytest.fixture
def webs(tmp_path: Path) -> Iterator[Callable[..., Web]]:
    """Start circushttpd processes; each must exit 0 on SIGTERM at teardown."""
    started: list[Web] = []

    def start(*args: str, scheme: str = "http") -> Web:
        web = Web(tmp_path, list(args), scheme)
        started.append(web)
        return web

    yield start
    for web in started:
        web.close()


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    """An admin ``alice`` (password ``wonderland``) and a viewer ``bob`` (``builder``)."""
    from circus.web import hash_password

    path = tmp_path / "users"
    path.write_text(f"alice admin {hash_password('wonderland')}\n"
                    f"bob viewer {hash_password('builder')}\n")
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A headless chromium with a profile in the test's tmp dir; quit at teardown."""
    from .browser import start_browser  # selenium: only the browser tests need it

    driver = start_browser(tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        driver.quit()
