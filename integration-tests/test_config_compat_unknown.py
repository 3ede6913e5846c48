"""Keys circus 0.19 does not know, under upstream circusd and under ours.

Upstream loads a config with an unknown key in ``[circus]``, ``[watcher:NAME]``
or ``[socket:NAME]`` and never uses the key. Ours must run the same config the
same way (same processes, same sockets) and, unlike upstream, say what it
ignored: one warning line per key, naming file, line and key, with a hint.
"""

from __future__ import annotations

import socket

from _circus_run import CircusRun, terminate, watcher_section


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sections(run: CircusRun, port: int) -> str:
    # numprocess (a typo) and host (a socket key) are unknown in a watcher.
    extra = "numprocess = 3\nhost = 127.0.0.1\n"
    return (watcher_section("w", run.token, 2, extra)
            + f"[socket:s]\nhost = 127.0.0.1\nport = {port}\nso_reuse_port = true\n")


def test_unknown_keys_run_as_upstream_runs_them(upstream_run: CircusRun) -> None:
    observed = {}
    for kind in ("upstream", "ours"):
        port = _free_port()
        config, endpoint, pubsub = upstream_run.config(
            kind, _sections(upstream_run, port), circus_extra="flavour = mint\n")
        daemon = upstream_run.start(kind, config, endpoint, pubsub)
        pids = daemon.wait_pids("w", 2)
        reply = daemon.call("listsockets")
        assert reply["status"] == "ok", reply
        sockets = [(s["name"], s["port"]) for s in reply["sockets"]]
        observed[kind] = (len(pids), sockets == [("s", port)])
        assert terminate(daemon), f"{kind} circusd ignored SIGTERM"
        if kind == "ours":
            log = daemon.log_text()
            assert "Traceback" not in log, log
            warnings = [line for line in log.splitlines() if "ignored, as circus 0.19" in line]
            assert len(warnings) == 4, log
            assert any(f"{config}, line 5, [circus] flavour = mint: unknown [circus] option"
                       in line for line in warnings), warnings
            assert any("[watcher:w] numprocess = 3" in line
                       and "did you mean 'numprocesses'?" in line for line in warnings), warnings
            assert any("[watcher:w] host = 127.0.0.1: 'host' is a [socket:NAME] option"
                       in line for line in warnings), warnings
            assert any("[socket:s] so_reuse_port = true" in line
                       and "did you mean 'so_reuseport'?" in line for line in warnings), warnings
    assert observed["ours"] == observed["upstream"] == (2, True), observed
