"""Webhook: POST a JSON document to a URL when a watcher keeps crashing or is stopped by it.

Options:

* ``url`` (required): where to POST;
* ``secret``: when set, the body is signed with HMAC-SHA256 and the hex digest
  sent as ``X-Circus-Signature: sha256=<digest>``;
* ``crash_count`` (3) and ``crash_window`` (60 s): that many crashes of a
  watcher's processes within the window send a ``crashing`` notice (then none
  for that watcher until a window has passed);
* ``timeout`` (5 s) per attempt, ``retries`` (3) more attempts after a failure
  (a refused connection, a timeout or an HTTP status >= 400), ``retry_delay``
  (1 s, doubled after each attempt);
* ``watchers_regex`` (``.*``): which watchers to report (plugins never are).

Notices:

* ``crashing``: ``crash_count`` crashes within ``crash_window``;
* ``stopped``: the watcher stopped while it was crashing (the flapping plugin
  stopping it, or someone giving up on it).

A crash is a death circus did not cause (no ``kill`` event before its
``reap``). The body::

    {"event": "crashing", "watcher": "web", "crashes": 3, "window": 60.0,
     "last_exit_code": 1, "host": "box", "time": 1700000000.0,
     "reason": "3 crashes within 60s"}

Deliveries run in a worker thread with the standard library's HTTP client,
so a slow endpoint never delays events; each one is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from circus.plugins._base import CircusPlugin
from circus.plugins._options import ConfigError, Options

__all__ = ["Webhook", "sign"]

log = logging.getLogger("circus.plugins.notify")

SIGNATURE_HEADER = "X-Circus-Signature"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Circus-Signature`` value for ``body``: ``sha256=<hex HMAC>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook(CircusPlugin):
    """Notifies a URL when watchers keep crashing or are stopped while crashing."""

    name = "webhook"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        options = Options(self._label(), config)
        url = options.optional_text("url")
        if url is None or not url.startswith(("http://", "https://")):
            raise ConfigError(f"plugin {self._label()}: option 'url' is required "
                              "(an http:// or https:// URL)")
        self.url = url
        self.secret = options.optional_text("secret")
        self.crash_count = options.integer("crash_count", 3, minimum=1)
        self.crash_window = options.number("crash_window", 60.0, positive=True)
        self.timeout = options.number("timeout", 5.0, positive=True)
        self.retries = options.integer("retries", 3, minimum=0)
        self.retry_delay = options.number("retry_delay", 1.0, minimum=0)
        self.watchers_regex = options.regex("watchers_regex", ".*")
        self.host = socket.gethostname()
        self.crashes: dict[str, deque[float]] = {}
        self.quiet_until: dict[str, float] = {}
        self.killed: set[int] = set()
        self.last_exit: dict[str, Any] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="webhook")

    def handle_recv(self, data: list[bytes]) -> None:
        """Count crashes; notice crash loops and stops of crashing watchers."""
        watcher, action, msg = self.split_data(data)
        if watcher.startswith("plugin:") or not self.watchers_regex.match(watcher):
            return
        now = time.monotonic()
        if action == "kill":
            pid = self.load_message(msg).get("process_pid")
            if isinstance(pid, int):
                self.killed.add(pid)
        elif action == "reap":
            payload = self.load_message(msg)
            pid = payload.get("process_pid")
            if pid in self.killed:
                self.killed.discard(pid)
                return
            if payload.get("commanded"):
                return
            self.last_exit[watcher] = payload.get("exit_code")
            crashes = self.crashes.setdefault(watcher, deque())
            crashes.append(now)
            while crashes and now - crashes[0] > self.crash_window:
                crashes.popleft()
            if len(crashes) >= self.crash_count and now >= self.quiet_until.get(watcher, 0):
                self.quiet_until[watcher] = now + self.crash_window
                self.notify("crashing", watcher, len(crashes),
                            f"{len(crashes)} crashes within {self.crash_window:g}s")
        elif action == "stop":
            recent = self.crashes.get(watcher)
            if recent and now - recent[-1] <= self.crash_window:
                self.notify("stopped", watcher, len(recent),
                            f"stopped {now - recent[-1]:.1f}s after its last crash")
            self.crashes.pop(watcher, None)

    def notify(self, event: str, watcher: str, crashes: int, reason: str) -> None:
        """Queue one notice for delivery."""
        body = json.dumps({
            "event": event, "watcher": watcher, "crashes": crashes,
            "window": self.crash_window, "last_exit_code": self.last_exit.get(watcher),
            "host": self.host, "time": time.time(), "reason": reason,
        }).encode()
        log.info("%s: %s (%s): notifying %s", watcher, event, reason, self.url)
        future = self._executor.submit(self.deliver, body)
        self.loop.add_future(future, lambda f: self._delivered(event, watcher, f.result()))

    def deliver(self, body: bytes) -> str | None:
        """POST ``body`` with retries; None on success, else the last error (worker thread)."""
        headers = {"Content-Type": "application/json", "User-Agent": "circus-plugins webhook"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        delay = self.retry_delay
        error = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(delay)  # in the worker thread: the plugin's loop runs on
                delay *= 2
            request = urllib.request.Request(self.url, data=body, headers=headers,
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return None
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        return error

    def _delivered(self, event: str, watcher: str, error: str | None) -> None:
        if error is None:
            log.info("%s: %s notice delivered to %s", watcher, event, self.url)
        else:
            log.error("%s: %s notice not delivered to %s after %d attempts: %s", watcher,
                      event, self.url, self.retries + 1, error)

    def handle_stop(self) -> None:
        """Let deliveries in progress finish within their timeout; drop queued ones."""
        self._executor.shutdown(wait=False, cancel_futures=True)
