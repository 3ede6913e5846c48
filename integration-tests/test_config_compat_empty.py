"""Every ``[circus]`` option left empty, under upstream circusd 0.19 and under ours.

Upstream configs write ``multicast_endpoint =`` to turn discovery off; this
runs the real upstream daemon with each option empty in turn and records
whether it runs (answers on its control endpoint with its watcher up) or
refuses to start. Ours must run wherever upstream runs. Where upstream refuses
(with a traceback) ours refuses too, with one line naming the option and what
it expects, except for the two options in ``OURS_ALSO_RUNS``, where an empty
value harmlessly means "not set". The table is the one in
packages/circus-core/README.md.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from _circus_peer import peer_env
from _circus_run import BIN, CircusRun, Daemon, answers, call, terminate, watcher_section

# What circus 0.19 does with `option =` (measured by this file).
UPSTREAM = {
    "check_delay": "refused",  # float('')
    "endpoint": "refused",  # zmq: Invalid argument
    "endpoint_owner": "refused",  # with an ipc:// endpoint: '' isn't a valid user name
    "pubsub_endpoint": "refused",
    "multicast_endpoint": "runs",  # discovery off
    "stats_endpoint": "runs",  # turns statsd on; circusd-stats then exits with a usage error
    "statsd": "refused",  # '' is not a boolean
    "umask": "refused",  # os.umask('')
    "warmup_delay": "refused",
    "httpd": "refused",
    "httpd_host": "runs",
    "httpd_port": "refused",
    "debug": "refused",
    "debug_gc": "refused",
    "pidfile": "runs",  # no pidfile
    "loglevel": "runs",  # info
    "logoutput": "runs",  # stdout
    "loggerconfig": "runs",
    "fqdn_prefix": "runs",
    "include": "runs",
    "include_dir": "runs",
    # Not read by upstream's config loader at all, so any value runs.
    "ssh_server": "runs",
    "statsd_close_outputs": "runs",
    "httpd_close_outputs": "runs",
    "stream_backend": "runs",
    "papa_endpoint": "runs",
    "prometheus": "runs",  # ours only; upstream ignores the unknown key
}
# Upstream refuses these with a traceback; an empty value means "not set" here.
OURS_ALSO_RUNS = {"umask", "endpoint_owner"}


def _config(run: CircusRun, kind: str, option: str) -> tuple[Path, str]:
    endpoint, pubsub = run.endpoints(kind)
    lines = {"endpoint": endpoint, "pubsub_endpoint": pubsub, "check_delay": "1"}
    lines[option] = ""
    text = "[circus]\n" + "".join(f"{key} = {value}\n" for key, value in lines.items())
    path = run.tmp_path / f"{kind}.ini"
    path.write_text(text + watcher_section("w", run.token))
    return path, endpoint


def _launch(run: CircusRun, kind: str, option: str) -> tuple[str, Daemon]:
    """Start circusd *kind* with *option* empty; return ``runs`` or ``refused``, and it."""
    config, endpoint = _config(run, kind, option)
    if kind == "ours":
        argv, env = [str(BIN / "circusd")], dict(os.environ)
    else:
        assert run.peer is not None
        argv, env = [str(run.peer / "bin" / "circusd")], peer_env()
    log = run.tmp_path / f"{kind}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*argv, str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=run.client_env(env),
                                   cwd=run.tmp_path, start_new_session=True)
    daemon = Daemon(kind, process, endpoint, "", config, log)
    run.daemons.append(daemon)  # run.close() stops it and whatever it started
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "refused", daemon
        if endpoint and answers(endpoint) and call(endpoint, "list", name="w").get("pids"):
            return "runs", daemon
        time.sleep(0.05)
    raise AssertionError(f"{kind} circusd neither ran nor exited:\n{daemon.log_text()}")


def _stop(daemon: Daemon) -> None:
    if daemon.running():
        assert terminate(daemon), f"{daemon.kind} circusd ignored SIGTERM"


@pytest.mark.parametrize("option", sorted(UPSTREAM))
def test_an_empty_circus_option_runs_wherever_upstream_runs(
    upstream_run: CircusRun, option: str
) -> None:
    theirs, upstream = _launch(upstream_run, "upstream", option)
    _stop(upstream)
    assert theirs == UPSTREAM[option], upstream.log_text()
    ours, daemon = _launch(upstream_run, "ours", option)
    _stop(daemon)
    log = daemon.log_text()
    if theirs == "runs" or option in OURS_ALSO_RUNS:
        assert ours == "runs", log
        assert "Traceback" not in log
    else:
        assert ours == "refused", log
        assert daemon.process.returncode == 1
        # One line naming the file, the option and what it expects.
        assert log.count("\n") == 1, log
        assert log.startswith(f"circusd: error: {daemon.config}, line "), log
        assert f"[circus] {option} = '': expected " in log, log
