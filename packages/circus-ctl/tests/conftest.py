"""Test helpers: a scripted in-test ROUTER "daemon", a PUB socket, circusctl as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

Replier = Callable[[dict[str, Any]], "dict[str, Any] | list[dict[str, Any]] | None"]


def poll(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Wait until ``predicate()`` is truthy (returning it); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


class FakeDaemon:
    """A ROUTER socket in a thread that records requests and answers from a script.

    ``replies`` maps a command name to the reply body (``status`` defaults to
    ok; ``id`` and ``time`` are filled in), or to a function of the request
    returning a body, a list of raw bodies to send in order, or None for no reply.
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1",
                 curve: tuple[bytes, bytes, str] | None = None) -> None:
        """``curve``: (public key, secret key, directory of authorized *.key files)."""
        self.replies: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []
        self.silent = False
        self._context = zmq.Context()
        self._auth: Any = None
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            from zmq.auth.thread import ThreadAuthenticator

            self._auth = ThreadAuthenticator(self._context)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=curve[2])
            self._socket.setsockopt(zmq.CURVE_SERVER, 1)
            self._socket.setsockopt(zmq.CURVE_PUBLICKEY, curve[0])
            self._socket.setsockopt(zmq.CURVE_SECRETKEY, curve[1])
        if endpoint.startswith("tcp://"):
            port = self._socket.bind_to_random_port(endpoint)
            self.endpoint = f"{endpoint}:{port}"
        else:
            self._socket.bind(endpoint)
            self.endpoint = endpoint
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._socket.poll(20, zmq.POLLIN):
                continue
            identity, frame = self._socket.recv_multipart()
            request = json.loads(frame)
            self.requests.append(request)
            if self.silent or request.get("msg_type") == "cast":
                continue
            for body in self._answer(request):
                self._socket.send_multipart([identity, json.dumps(body).encode()])

    def _answer(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        script = self.replies.get(request["command"], {})
        body = script(request) if callable(script) else script
        if body is None:
            return []
        if isinstance(body, list):
            return body
        return [{"status": "ok", **body, "time": time.time(), "id": request.get("id")}]

    def last(self, command: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """The last request received, for ``command`` if given, waiting for one to arrive.

        A cast gets no reply, so a test cannot know it has arrived when the
        client returns: name its command here and the wait covers it.
        """
        def matching() -> list[dict[str, Any]]:
            return [r for r in list(self.requests) if command in (None, r.get("command"))]

        found: list[dict[str, Any]] = poll(matching, timeout)
        return found[-1]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()
        if self._auth is not None:
            self._auth.stop()
        self._context.term()


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    """A scripted daemon on a free TCP port."""
    fake = FakeDaemon()
    yield fake
    fake.close()


class Publisher:
    """A PUB-like socket on a free port, standing in for circusd's event channel.

    It is an XPUB so a test can wait until a subscriber's subscription arrived
    instead of sleeping and hoping the SUB has connected.
    """

    def __init__(self) -> None:
        self._context = zmq.Context()
        self.socket = self._context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"tcp://127.0.0.1:{self.socket.bind_to_random_port('tcp://127.0.0.1')}"

    def publish(self, topic: str, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.socket.send_multipart([topic.encode(), body])

    def wait_subscribed(self, timeout: float = 10.0) -> bytes:
        """Wait for a subscription message; return the topic subscribed to."""
        if not self.socket.poll(int(timeout * 1000), zmq.POLLIN):
            raise AssertionError("no subscriber connected")
        frame = self.socket.recv()
        assert frame[:1] == b"\x01", frame
        return frame[1:]

    def close(self) -> None:
        self.socket.close()
        self._context.term()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    pub = Publisher()
    yield pub
    pub.close()


def ctl_env(**extra: str) -> dict[str, str]:
    """The environment circusctl subprocesses run with: no endpoint or colour config.

    They import circus from the installed wheel, as a user's would: nothing
    puts ``src/`` on their path.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("CIRCUSCTL_ENDPOINT", "NO_COLOR")}
    env.update(extra)
    return env


def ctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "circus.circusctl", *args]


# circusctl with a second thread that, for each line on stdin, sends SIGINT to
# itself. The interpreter notes the signal there, and the main thread's
# blocking receive is not interrupted: the case of a Ctrl-C landing just
# before the receive starts, which plain SIGINT from outside only hits by chance.
_CTRL_C_ELSEWHERE = """
import runpy, signal, sys, threading
def take_ctrl_c():
    for _ in sys.stdin:
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
threading.Thread(target=take_ctrl_c, daemon=True).start()
sys.argv = ["circusctl", *sys.argv[1:]]
runpy.run_module("circus.circusctl", run_name="__main__")
"""


@contextlib.contextmanager
def ctl_ctrl_c_elsewhere(*args: str) -> Iterator[subprocess.Popen[str]]:
    """circusctl ``args`` with text pipes, in a process whose Ctrl-C a thread takes.

    :func:`ctrl_c_elsewhere` sends that Ctrl-C; a process still running when
    the block ends (a failed test) is killed.
    """
    with subprocess.Popen([sys.executable, "-c", _CTRL_C_ELSEWHERE, *args],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=ctl_env()) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def ctrl_c_elsewhere(proc: subprocess.Popen[str], what: str) -> tuple[int, str, str]:
    """Have the thread of ``proc`` (see :func:`ctl_ctrl_c_elsewhere`) take a Ctrl-C.

    Returns the exit code, the rest of stdout and stderr; fails the test,
    naming ``what``, if the process has not ended 30 s later.
    """
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    return _ended(proc, f"{what} missed a Ctrl-C it was sent")


def interrupt(proc: subprocess.Popen[str], what: str) -> tuple[int, str, str]:
    """Send ``proc`` SIGINT (a Ctrl-C from outside); return its code, stdout and stderr.

    Fails the test, naming ``what``, if the process has not ended 30 s later.
    """
    proc.send_signal(signal.SIGINT)
    return _ended(proc, f"{what} ignored SIGINT")


def _ended(proc: subprocess.Popen[str], failure: str) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{failure}: {out!r} {err!r}") from None
    return proc.returncode, out, err


def run_ctl(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 30, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run circusctl with ``args`` to completion, capturing its output as text."""
    return subprocess.run(ctl_argv(*args), capture_output=True, text=True, input=input,
                          env=env or ctl_env(), timeout=timeout, **kwargs)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


