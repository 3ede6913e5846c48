"""The bench's HTTP load generator: one client process following a schedule.

    python _http_load.py SCHEDULE_JSON

SCHEDULE_JSON is a list of ``[port, start, end]`` slices, times on
``time.monotonic()`` (one clock for every process on Linux). During each
slice the client sends ``GET /`` to ``127.0.0.1:port`` back to back, one
connection per request, reading each response to the end. It prints one
JSON list on stdout, per slice: requests answered with 200, failures (with
the first reason), and the worker pids named by the responses.

Several of these run at once; since every one follows the same schedule,
all targets get the same clients, the same CPU and the same moments of the
run, slice by slice.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from typing import Any

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
# Our app says "pid N", examples/web.py "worker N" (and an X-Worker-Pid header).
PID_RE = re.compile(rb"\b(?:pid|worker) (\d+)")


def one_request(port: int) -> bytes:
    """One whole request/response on a fresh connection; returns the raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(REQUEST)
        chunks: list[bytes] = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def run_slice(port: int, start: float, end: float) -> dict[str, Any]:
    """Hammer ``port`` from ``start`` to ``end``; the counts."""
    delay = start - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    ok = failed = 0
    first_error = ""
    pids: set[int] = set()
    while time.monotonic() < end:
        try:
            raw = one_request(port)
        except OSError as exc:
            failed += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            continue
        if raw.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            ok += 1
            match = PID_RE.search(raw)
            if match:
                pids.add(int(match.group(1)))
        else:
            failed += 1
            first_error = first_error or f"bad response {raw[:40]!r}"
    return {"ok": ok, "failed": failed, "first_error": first_error, "pids": sorted(pids)}


def main() -> int:
    """Entry point."""
    schedule = json.loads(sys.argv[1])
    print(json.dumps([run_slice(int(p), float(s), float(e)) for p, s, e in schedule]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
