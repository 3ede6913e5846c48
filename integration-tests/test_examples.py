"""The demo that `make run` starts: examples/circus.ini loads, runs and stops cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def test_demo_config_runs_its_watchers_and_stops_cleanly(tmp_path: Path) -> None:
    circusd = os.path.join(os.path.dirname(sys.executable), "circusd")
    out = tmp_path / "circusd.out"
    # The demo binds upstream's default ports; here it gets private ipc
    # endpoints from a main file that includes it (the main file's keys win).
    ipc_dir = Path(tempfile.mkdtemp(prefix="circus-demo-", dir="/tmp"))
    config = tmp_path / "demo.ini"
    config.write_text(f"[circus]\nendpoint = ipc://{ipc_dir}/ctl\n"
                      f"pubsub_endpoint = ipc://{ipc_dir}/pub\n"
                      f"include = {EXAMPLES / 'circus.ini'}\n")
    with open(out, "wb") as handle:
        proc = subprocess.Popen([circusd, str(config)], stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while "arbiter running 3 watchers" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        # clock (1) + worker (3) + flaky (1); flaky may be between two lives.
        while len(_children(proc.pid)) < 4:
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        children = _children(proc.pid)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` sends
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(ipc_dir, ignore_errors=True)
    text = out.read_text()
    assert "Traceback" not in text
    for watcher in ("clock", "worker", "flaky"):
        assert f"watcher {watcher} stopped" in text
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
