"""Readiness through the real binaries: our circusd with a check, our circusctl printing it.

The check is ``exec:test -e FILE``: the processes are ``starting`` until the
test creates the file. A watcher without a check prints its pids as before.
"""

from __future__ import annotations

from pathlib import Path

from _circus_run import CircusRun, check, wait_for, watcher_section


def test_circusctl_shows_readiness_of_a_checked_watcher(circus_run: CircusRun,
                                                        tmp_path: Path) -> None:
    flag = tmp_path / "serving"
    # A ready window of 100 s (check_timeout x check_retries): starting until the file exists.
    checked = (f"check = exec:test -e {flag}\ncheck_interval = 0.2\ncheck_timeout = 1\n"
               "check_retries = 100\n")
    config, endpoint, pubsub = circus_run.config(
        "readiness", watcher_section("web", circus_run.token, 2, checked)
        + watcher_section("plain", circus_run.token, 1))
    daemon = circus_run.start("ours", config, endpoint, pubsub)
    web = sorted(daemon.wait_pids("web", 2))
    [plain] = daemon.wait_pids("plain", 1)

    listed = check(circus_run.ours_ctl(endpoint, "list", "web")).stdout.strip()
    assert dict(item.split(":") for item in listed.split(",")) == {
        str(pid): "starting" for pid in web}, listed
    check(circus_run.ours_ctl(endpoint, "list", "plain"), stdout=f"{plain}\n")
    check(circus_run.ours_ctl(endpoint, "status", "--verbose"), stdout=(
        f"plain: active\n  pid {plain}: ready\n"
        f"web: active\n  pid {web[0]}: starting\n  pid {web[1]}: starting\n"))
    check(circus_run.ours_ctl(endpoint, "status"), stdout="plain: active\nweb: active\n")

    flag.touch()
    wait_for(lambda: circus_run.ours_ctl(endpoint, "list", "web").stdout.strip()
             == ",".join(f"{pid}:ready" for pid in daemon.pids("web")), "both ready", 15)
    check(circus_run.ours_ctl(endpoint, "status", "web", "--verbose"), stdout=(
        f"active\n  pid {web[0]}: ready\n  pid {web[1]}: ready\n"))
