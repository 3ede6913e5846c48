"""[circus] options that change the daemon itself: fqdn_prefix, debug_gc, SIGHUP reopen."""

from __future__ import annotations

import gc
import signal
import socket

from circus.arbiter import Arbiter
from conftest import poll


def test_fqdn_prefix_names_the_daemon():
    """``fqdn_prefix`` prefixes the host's FQDN, as the cluster-wide identifier."""
    assert Arbiter([], fqdn_prefix="prod").fqdn == f"prod@{socket.getfqdn()}"
    assert Arbiter([]).fqdn == socket.getfqdn()


def test_debug_gc_turns_on_leak_debugging():
    """``debug_gc`` sets the garbage collector's DEBUG_LEAK flags."""
    previous = gc.get_debug()
    try:
        Arbiter([], debug_gc=True)
        assert gc.get_debug() & gc.DEBUG_LEAK == gc.DEBUG_LEAK
    finally:
        gc.set_debug(previous)


def test_sighup_reopens_stream_files(circusd, tmp_path):
    """After logrotate moves the file, SIGHUP makes circusd reopen it at once."""
    log = tmp_path / "out.log"
    config = circusd.write("hup.ini", f"""
[watcher:quiet]
cmd = sleep 60
stdout_stream.class = FileStream
stdout_stream.filename = {log}
""")
    proc = circusd.start(str(config))
    poll(lambda: "arbiter running" in proc.stdout(), timeout=20)
    assert log.exists()
    log.rename(tmp_path / "out.log.1")
    # `sleep` never writes, so only a reopen can bring the file back.
    proc.popen.send_signal(signal.SIGHUP)
    poll(log.exists, timeout=10)
    assert proc.stop() == 0
