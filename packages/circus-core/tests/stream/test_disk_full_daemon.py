"""A real circusd whose log disk fills up: the worker never stalls, output is dropped and counted.

The watcher's FileStream writes to a 256 KiB tmpfs the test mounts; the test
fills it with a ballast file while a worker prints lines as fast as it can,
then removes the ballast. Figures: the worker's progress while the disk is
full (it must keep going: dropped, not blocked), the error lines circusd
logged (one per ``error_report_interval``, 1 s here, not one per write), the
``output_dropped`` events and the counts in ``status --verbose``, and the
time until writing resumed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import zmq

from .test_disk_full import fill, small_tmpfs

WORKER = """\
import sys, time
n = 0
while True:
    for _ in range(200):
        n += 1
        sys.stdout.write(f"line {n} " + "x" * 80 + "\\n")
    sys.stdout.flush()
    with open("progress.tmp", "w") as handle:
        handle.write(str(n))
    import os; os.replace("progress.tmp", "progress")
    time.sleep(0.005)
"""
FULL_SECONDS = 3.0


def _progress(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _events(sub: zmq.Socket[bytes]) -> list[dict[str, Any]]:
    found = []
    while sub.poll(0):
        _topic, body = sub.recv_multipart()
        found.append(json.loads(body))
    return found


def test_full_log_disk_drops_output_without_stalling_the_worker(circusd, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        circusd.write("worker.py", WORKER)
        log = disk / "writer.log"
        text = (f"[watcher:writer]\ncmd = {sys.executable} -u worker.py\n"
                "stdout_stream.class = FileStream\n"
                f"stdout_stream.filename = {log}\n"
                "stdout_stream.error_report_interval = 1\n")
        proc = circusd.start(str(circusd.write("circus.ini", text)))
        context = zmq.Context()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(circusd.pubsub_endpoint)
        sub.setsockopt(zmq.SUBSCRIBE, b"watcher.writer.output_dropped")
        try:
            progress = tmp_path / "progress"
            deadline = time.monotonic() + 30
            while not (log.exists() and log.stat().st_size and _progress(progress)):
                assert time.monotonic() < deadline, "the worker never wrote"
                time.sleep(0.02)

            ballast = fill(disk)
            filled_at = time.monotonic()
            start_lines = _progress(progress)
            events: list[dict[str, Any]] = []
            while time.monotonic() - filled_at < FULL_SECONDS:
                events += _events(sub)
                time.sleep(0.05)
            full_lines = _progress(progress) - start_lines
            status = circusd.call("status", verbose=True)
            dropped = status["output_dropped"]["writer"]["stdout"]
            errors = [line for line in (proc.stdout() + proc.stderr()).splitlines()
                      if "cannot write" in line]

            os.unlink(ballast)
            freed_at = time.monotonic()
            size = log.stat().st_size
            while not any(e["resumed"] for e in events) or log.stat().st_size <= size:
                assert time.monotonic() - freed_at < 10, "writing never resumed"
                events += _events(sub)
                time.sleep(0.02)
            resumed_after = time.monotonic() - freed_at
            after = circusd.call("status", verbose=True)
        finally:
            sub.close(linger=0)
            context.term()
        assert proc.stop() == 0

    failures = [e for e in events if not e["resumed"]]
    print("\nlog_disk_full: " + json.dumps({
        "full_seconds": FULL_SECONDS, "worker_lines_while_full": full_lines,
        "worker_lines_per_s_while_full": round(full_lines / FULL_SECONDS),
        "dropped_chunks": dropped["dropped_chunks"], "dropped_bytes": dropped["dropped_bytes"],
        "error_log_lines": len(errors), "dropped_events": len(failures),
        "resumed_after_s": round(resumed_after, 3),
    }, sort_keys=True))
    assert full_lines > 1000, "the worker stalled while the disk was full"
    assert dropped["dropped_chunks"] > 0 and dropped["error"] == "No space left on device"
    # One report per second (error_report_interval = 1), not one per dropped chunk.
    assert 1 <= len(errors) <= FULL_SECONDS + 2 < dropped["dropped_chunks"]
    assert 1 <= len(failures) <= FULL_SECONDS + 2
    assert failures[-1]["dropped_chunks"] <= dropped["dropped_chunks"]
    assert after["output_dropped"]["writer"]["stdout"]["error"] is None
    assert "Traceback" not in proc.stdout() + proc.stderr()
