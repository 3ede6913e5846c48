"""A scripted circusd: a control ROUTER answering in a thread, and an event PUB.

For what a real circusd cannot be made to do on cue (publish a readiness
event at a chosen moment, report a thousand processes without running
them), the tests point circushttpd at this instead.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

Script = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``(command, properties)`` to the reply's keys besides ``status``, ``id`` and ``time``."""


class ScriptedCircusd:
    """Answers each request from :attr:`script` (set it before use); ``publish`` sends an event."""

    def __init__(self) -> None:
        self.script: Script = lambda command, props: {}
        self.dir = Path(tempfile.mkdtemp(prefix="cweb-scripted-", dir="/tmp"))
        self.endpoint = f"ipc://{self.dir}/ctl"
        self.pubsub = f"ipc://{self.dir}/pub"
        self.context: zmq.Context[Any] = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(self.endpoint)
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(self.pubsub)
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.router.poll(20):
                continue
            *route, body = self.router.recv_multipart()
            request = json.loads(body)
            command = str(request.get("command"))
            self.counts[command] += 1
            reply = {"status": "ok", **self.script(command, request.get("properties") or {}),
                     "time": time.time(), "id": request.get("id")}
            self.router.send_multipart([*route, json.dumps(reply).encode()])

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Send one event (from the test's thread only: the PUB is not shared)."""
        self.pub.send_multipart([topic.encode(), json.dumps(payload).encode()])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.router.close()
        self.pub.close()
        self.context.term()
        shutil.rmtree(self.dir, ignore_errors=True)


def one_watcher(name: str, pids: list[int], health: dict[str, str] | None,
                pubsub: str) -> Script:
    """A circusd running watcher ``name`` with ``pids``; ``health`` None: upstream's circusd."""
    def script(command: str, props: dict[str, Any]) -> dict[str, Any]:
        if command == "globaloptions":
            return {"options": {"pubsub_endpoint": pubsub, "stats_endpoint": None}}
        if command == "status":
            reply: dict[str, Any] = {"statuses": {name: "active"}}
            if props.get("verbose") and health is not None:
                reply.update(backoff={}, health={name: dict(health)})
            return reply
        if command == "list":
            return {"pids": pids} if props.get("name") else {"watchers": [name]}
        if command == "numprocesses":
            return {"numprocesses": len(pids)}
        if command == "listsockets":
            return {"sockets": []}
        if command == "options":
            return {"options": {"numprocesses": len(pids)}}
        return {}
    return script
