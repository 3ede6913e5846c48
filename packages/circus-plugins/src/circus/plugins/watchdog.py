"""WatchDog: kill processes that stop sending UDP heartbeats; circusd respawns them.

Each watched process sends a datagram such as ``<pid>;<timestamp>`` to
``ip:port`` (127.0.0.1:1664) at least every ``loop_rate`` seconds. Every
``loop_rate`` seconds, a process silent for ``loop_rate * max_count`` seconds
gets circusd's ``kill`` command (its stop sequence: ``watchers_stop_signal``,
then SIGKILL after ``watchers_graceful_timeout``), and circusd starts a new one.

Options: ``loop_rate`` (60), ``watchers_regex`` (``.*``), ``msg_regex``
(``^(?P<pid>.*);(?P<timestamp>.*)$``, must have a ``pid`` group),
``max_count`` (3), ``ip`` (127.0.0.1), ``port`` (1664),
``watchers_stop_signal`` and ``watchers_graceful_timeout`` (the watcher's own
when absent; ``stop_signal`` and ``graceful_timeout`` are accepted as aliases).

Unlike upstream (#945): plugin watchers (``plugin:*``, this one included),
``circusd-stats`` and ``circushttpd`` are never watched, whatever the regex
says, since they send no heartbeat; a datagram that does not match is
ignored; killing several processes in one pass works.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import time
from typing import Any

from circus.plugins._actions import act
from circus.plugins._base import CircusPlugin
from circus.plugins._options import ConfigError, Options
from circus.plugins._periodic import every
from tornado.ioloop import IOLoop, PeriodicCallback

__all__ = ["WatchDog"]

log = logging.getLogger("circus.plugins.watchdog")

DEFAULT_MSG_REGEX = r"^(?P<pid>.*);(?P<timestamp>.*)$"
_NEVER_WATCHED = ("circusd-stats", "circushttpd")


class WatchDog(CircusPlugin):
    """Kills watched processes whose UDP heartbeats stop."""

    name = "watchdog"

    def __init__(self, endpoint: str, pubsub_endpoint: str, check_delay: float,
                 ssh_server: str | None = None, **config: Any) -> None:
        super().__init__(endpoint, pubsub_endpoint, check_delay, ssh_server=ssh_server,
                         **config)
        options = Options(self._label(), config)
        self.loop_rate = options.number("loop_rate", 60.0, positive=True)
        self.watchers_regex = options.regex("watchers_regex", ".*")
        self.msg_regex = options.regex("msg_regex", DEFAULT_MSG_REGEX, groups=("pid",))
        self.max_count = options.integer("max_count", 3, minimum=1)
        self.ip = options.text("ip", "127.0.0.1")
        self.port = options.integer("port", 1664, minimum=0)
        stop_key = "watchers_stop_signal" if "watchers_stop_signal" in config else "stop_signal"
        self.stop_signal = options.signal(stop_key)
        timeout_key = ("watchers_graceful_timeout" if "watchers_graceful_timeout" in config
                       else "graceful_timeout")
        self.graceful_timeout = options.optional_number(timeout_key, None)
        self.pid_status: dict[int, dict[str, Any]] = {}  # pid -> {"watcher", "last_activity"}
        self.sock: socket.socket | None = None
        self.period: PeriodicCallback | None = None
        self._listed = False

    # -- set-up ------------------------------------------------------------------

    def handle_init(self) -> None:
        """Bind the heartbeat socket and start the periodic check."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.ip else socket.AF_INET,
                             socket.SOCK_DGRAM)
        try:
            sock.bind((self.ip, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"plugin {self._label()}: cannot bind the heartbeat socket on "
                              f"{self.ip}:{self.port}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        self.sock = sock
        self.loop.add_handler(sock.fileno(), self._on_datagrams, IOLoop.READ)
        log.info("listening for heartbeats on %s:%d", *sock.getsockname()[:2])
        self.period = every(self, self.loop_rate, self.look_after)

    def handle_stop(self) -> None:
        """Stop the check and close the socket."""
        if self.period is not None:
            self.period.stop()
        if self.sock is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_handler(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def handle_reconnect(self) -> None:
        """Events were lost while circusd was away: list the processes again."""
        self._listed = False

    # -- which processes ---------------------------------------------------------

    def watched(self, watcher_name: str) -> bool:
        """True if ``watcher_name`` is one whose processes must send heartbeats."""
        if watcher_name.startswith("plugin:") or watcher_name in _NEVER_WATCHED:
            return False
        return self.watchers_regex.match(watcher_name) is not None

    def handle_recv(self, data: list[bytes]) -> None:
        """Follow spawns and deaths of the watched watchers."""
        watcher_name, action, msg = self.split_data(data)
        if not self.watched(watcher_name):
            return
        if action == "spawn":
            pid = self.load_message(msg).get("process_pid")
            if isinstance(pid, int):
                self.pid_status[pid] = {"watcher": watcher_name,
                                        "last_activity": time.time()}
        elif action == "reap":
            pid = self.load_message(msg).get("process_pid")
            self.pid_status.pop(pid, None)
        elif action == "stop":
            for pid in [p for p, s in self.pid_status.items() if s["watcher"] == watcher_name]:
                del self.pid_status[pid]

    def _list_pids(self) -> None:
        """Learn the processes that were running before we subscribed."""
        reply = self.call("list")
        if reply.get("status") == "error":
            return
        now = time.time()
        known = {}
        for watcher_name in reply.get("watchers", []):
            if not self.watched(watcher_name):
                continue
            pids_reply = self.call("list", name=watcher_name)
            for pid in pids_reply.get("pids", []) or []:
                previous = self.pid_status.get(int(pid))
                known[int(pid)] = previous or {"watcher": watcher_name, "last_activity": now}
        self.pid_status = known
        self._listed = True

    # -- heartbeats --------------------------------------------------------------

    def _on_datagrams(self, fd: int, events: int) -> None:
        while self.sock is not None:
            try:
                data = self.sock.recv(4096)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    log.warning("heartbeat socket: %s", exc)
                return
            self.heartbeat(data)

    def heartbeat(self, data: bytes) -> None:
        """Record one heartbeat datagram."""
        match = self.msg_regex.match(data.decode("utf-8", "replace").strip())
        if match is None:
            log.debug("ignoring a datagram that msg_regex does not match: %r", data[:80])
            return
        try:
            pid = int(match.group("pid"))
        except (TypeError, ValueError):
            log.debug("ignoring a heartbeat whose pid is not a number: %r", data[:80])
            return
        status = self.pid_status.get(pid)
        if status is not None:
            status["last_activity"] = time.time()

    # -- the check ---------------------------------------------------------------

    def look_after(self) -> None:
        """Kill every watched process silent for ``loop_rate * max_count`` seconds."""
        if not self._listed:
            self._list_pids()
        limit = time.time() - self.loop_rate * self.max_count
        for pid, status in list(self.pid_status.items()):
            if status["last_activity"] >= limit:
                continue
            watcher_name = status["watcher"]
            del self.pid_status[pid]
            props: dict[str, Any] = {"name": watcher_name, "pid": pid}
            if self.stop_signal is not None:
                props["signum"] = self.stop_signal
            if self.graceful_timeout is not None:
                props["graceful_timeout"] = self.graceful_timeout
            log.info("%s: pid %d sent no heartbeat for %gs: killing it", watcher_name, pid,
                     self.loop_rate * self.max_count)
            act(self, "kill", reason=f"no heartbeat for {self.loop_rate * self.max_count:g}s",
                **props)
