"""A stop signal that reaches circusd before its handlers exist still stops it cleanly.

Once the pidfile names circusd, an init script or a supervisor may signal it.
The window before the arbiter routes its signals is made wide here by a
logger config whose handler takes a while to build: a SIGTERM sent in that
window must end circusd with status 0, its pidfile removed and no watcher
left, as a later SIGTERM would.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from conftest import poll

SLOW_HANDLER = """\
import logging, pathlib, time

def make():
    pathlib.Path("building-handler").touch()
    time.sleep(2)
    return logging.StreamHandler()
"""


def test_sigterm_before_the_handlers_exist_is_a_clean_stop(circusd, tmp_path: Path) -> None:
    circusd.write("slowhandler.py", SLOW_HANDLER)
    logger_config = circusd.write("logging.json", json.dumps({
        "version": 1,
        "handlers": {"slow": {"()": "slowhandler.make"}},
        "root": {"handlers": ["slow"], "level": "INFO"},
    }))
    pidfile = tmp_path / "circusd.pid"
    config = circusd.write("circus.ini", f"[watcher:w]\ncmd = {sys.executable} -c "
                                         "'import time; time.sleep(60)'\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = circusd.start("--pidfile", str(pidfile), "--logger-config", str(logger_config),
                         str(config), env=env)
    # The pidfile exists and the logger config is still being applied.
    poll(lambda: pidfile.exists() and (tmp_path / "building-handler").exists(), 30)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(timeout=30) == 0, proc.stderr()
    assert not pidfile.exists()
    assert "Traceback" not in proc.stderr()
