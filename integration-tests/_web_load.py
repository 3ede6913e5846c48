"""The zero-downtime tests' load generator: one-request connections from several threads.

Every request is ``GET /`` on a fresh connection to examples/web.py, whose
answer names the worker's pid. A reset and any other failure are counted
apart, so a test can demand that there were none of either.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from _circus_run import wait_for


@dataclass
class Load:
    """Client threads each sending GET / on a fresh connection, in a loop."""

    port: int
    threads: int = 4
    ok: int = 0
    resets: int = 0
    failures: list[str] = field(default_factory=list)
    pids: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._loop, daemon=True)
                         for _ in range(self.threads)]
        self._started = 0.0

    def _one(self) -> int:
        """One request on its own connection; the answering worker's pid."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200 or not body.startswith(b"hello from worker "):
            raise AssertionError(f"bad answer {response.status} {body!r}")
        return int(response.headers["X-Worker-Pid"])

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pid = self._one()
            except ConnectionResetError:
                with self._lock:
                    self.resets += 1
            except (OSError, http.client.HTTPException, AssertionError) as exc:
                with self._lock:
                    self.failures.append(repr(exc))
            else:
                with self._lock:
                    self.ok += 1
                    self.pids[pid] += 1

    def start(self) -> None:
        self._started = time.monotonic()
        for worker in self._workers:
            worker.start()
        self.progress(50)

    def progress(self, requests: int = 200) -> None:
        """Wait until *requests* more requests have succeeded since now."""
        target = self.ok + requests
        wait_for(lambda: self.ok >= target or self.failures or self.resets,
                 f"{requests} more requests to succeed", 20)

    def served_by(self, pids: list[int], requests: int = 200) -> None:
        """Wait until each of *pids* has answered at least once (and more requests went by)."""
        self.progress(requests)
        wait_for(lambda: all(self.pids[pid] for pid in pids), f"{pids} to answer", 20)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=15)
        self.elapsed = time.monotonic() - self._started

    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def check(self, what: str) -> None:
        """Assert that nothing failed and print the throughput."""
        print(f"\n{what}: {self.ok} requests in {self.elapsed:.1f} s, "
              f"{self.rate():.0f} requests/s, {len(self.pids)} workers answered, "
              f"{len(self.failures)} failed, {self.resets} reset")
        assert self.failures == [] and self.resets == 0, (
            f"{len(self.failures)} failed, {self.resets} reset: {self.failures[:5]}")
        assert self.ok > 0
