"""The real ``circusd`` on INI files: hooks found through the config, and ``[env]`` substitution.

Hook modules are written by each test under a name of its own; the hook
leaves a file named ``<watcher>.<hook>`` next to its module, so the test sees
that circusd imported and ran it. Where a hook module can live:

* a directory named by ``PYTHONPATH`` in ``[env]`` or ``[env:NAME]`` (upstream
  #477, #481), also for a watcher created by ``add`` or changed by
  ``reloadconfig``;
* next to the config file, or in the directory circusd was started from
  (circus 0.19 fails there with "Failed to create watcher");
* nowhere: circusd refuses to start with one line listing where it looked.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest
from _circus_run import PYTHON, SLEEP_CODE, CircusRun, Daemon, check, wait_for

HOOK_CODE = (
    "import os\n"
    "def mark(watcher, hook_name, **kwargs):\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    open(os.path.join(here, f'{watcher.name}.{hook_name}'), 'w').close()\n"
    "    return True\n"
)


def hook_module(directory: Path) -> str:
    """Write a hook module with a fresh name into *directory*; return its name."""
    name = f"e2e_hooks_{uuid.uuid4().hex[:12]}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(HOOK_CODE)
    return name


def sleeper(run: CircusRun, *extra: str) -> str:
    words = " ".join(extra)
    return f"{shlex.quote(PYTHON)} -c {shlex.quote(SLEEP_CODE)} {words} {run.token}".strip()


def write_config(run: CircusRun, path: Path, sections: str) -> tuple[Path, str, str]:
    endpoint, pubsub = run.endpoints(path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[circus]\nendpoint = {endpoint}\npubsub_endpoint = {pubsub}\n"
                    f"check_delay = 1\n\n{sections}")
    return path, endpoint, pubsub


def ran(directory: Path, watcher: str, hook: str) -> None:
    wait_for((directory / f"{watcher}.{hook}").exists, f"{hook} hook of {watcher} to run")


# -- hooks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["env", "env:web"])
def test_a_hook_is_found_through_a_pythonpath_in_the_config(
    circus_run: CircusRun, tmp_path: Path, section: str
) -> None:
    hooks = tmp_path / "hooks"
    name = hook_module(hooks)
    config = write_config(circus_run, tmp_path / "etc" / "circus.ini", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nhooks.after_start = {name}.mark\n"
        f"[{section}]\nPYTHONPATH = /nowhere:{hooks}\n"))
    daemon = circus_run.start("ours", *config)
    ran(hooks, "web", "after_start")
    daemon.wait_pids("web", 1)


def test_a_hook_next_to_the_config_file_is_found(circus_run: CircusRun, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    name = hook_module(etc)
    config = write_config(circus_run, etc / "circus.ini",
                          f"[watcher:web]\ncmd = {sleeper(circus_run)}\n"
                          f"hooks.after_start = {name}.mark\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    circus_run.start("ours", *config, cwd=elsewhere)
    ran(etc, "web", "after_start")


def test_a_hook_in_the_start_directory_is_found(circus_run: CircusRun, tmp_path: Path) -> None:
    start = tmp_path / "start"
    name = hook_module(start)
    config = write_config(circus_run, tmp_path / "etc" / "circus.ini",
                          f"[watcher:web]\ncmd = {sleeper(circus_run)}\n"
                          f"hooks.after_start = {name}.mark\n")
    circus_run.start("ours", *config, cwd=start)
    ran(start, "web", "after_start")


def test_a_watcher_added_at_runtime_finds_its_hooks(circus_run: CircusRun, tmp_path: Path) -> None:
    hooks, etc = tmp_path / "hooks", tmp_path / "etc"
    through_env, beside_config = hook_module(hooks), hook_module(etc)
    config = write_config(circus_run, etc / "circus.ini",
                          f"[watcher:web]\ncmd = {sleeper(circus_run)}\n")
    daemon = circus_run.start("ours", *config, cwd=tmp_path)
    reply = daemon.call("add", name="added", cmd=sleeper(circus_run), start=True,
                        options={"env": {"PYTHONPATH": str(hooks)},
                                 "hooks.after_start": f"{through_env}.mark"})
    assert reply["status"] == "ok", reply
    ran(hooks, "added", "after_start")
    reply = daemon.call("add", name="beside", cmd=sleeper(circus_run), start=True,
                        options={"hooks": {"after_start": f"{beside_config}.mark"}})
    assert reply["status"] == "ok", reply
    ran(etc, "beside", "after_start")


def test_reloadconfig_finds_hooks_of_changed_and_new_watchers(
    circus_run: CircusRun, tmp_path: Path
) -> None:
    hooks = tmp_path / "hooks"
    name = hook_module(hooks)
    path = tmp_path / "etc" / "circus.ini"
    config = write_config(circus_run, path, f"[watcher:web]\ncmd = {sleeper(circus_run)}\n")
    daemon = circus_run.start("ours", *config)
    [old] = daemon.wait_pids("web", 1)
    # web gains a hook and the PYTHONPATH it needs (both live changes); fresh is new.
    write_config(circus_run, path, (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nhooks.after_spawn = {name}.mark\n"
        f"[watcher:fresh]\ncmd = {sleeper(circus_run)}\nhooks.after_start = {name}.mark\n"
        f"[env:web,fresh]\nPYTHONPATH = {hooks}\n"))
    reply = daemon.call("reloadconfig")
    assert reply["status"] == "ok", f"{reply}\n{daemon.log_text()}"
    ran(hooks, "fresh", "after_start")
    ran(hooks, "web", "after_spawn")  # the env change respawned web's process
    assert old not in daemon.wait_pids("web", 1)


def test_a_hook_found_nowhere_stops_circusd_naming_where_it_looked(
    circus_run: CircusRun, tmp_path: Path
) -> None:
    config, _, _ = write_config(circus_run, tmp_path / "etc" / "circus.ini", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nhooks.after_start = nosuchmod.mark\n"
        f"[env:web]\nPYTHONPATH = {tmp_path / 'lib'}\n"))
    result = subprocess.run([*circus_run.ours_argv("circusd"), str(config)],
                            env=circus_run.client_env(dict(os.environ)), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=60, check=False)
    check(result, rc=1)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"circusd: error: {config}, [watcher:web]: hooks.after_start = "
                           "nosuchmod.mark: cannot import hook 'nosuchmod.mark': no module "
                           "named 'nosuchmod' in any of "), line
    for directory in (tmp_path / "lib", tmp_path / "etc", tmp_path):
        assert f"{directory}," in line or f"{directory};" in line, line


# -- [env] substitution --------------------------------------------------------------------


def _argv_and_env(daemon: Daemon, watcher: str) -> tuple[list[str], dict[str, str]]:
    [pid] = daemon.wait_pids(watcher, 1)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode()
    return argv, dict(item.split("=", 1) for item in raw.split("\0") if item)


def test_env_values_expand_and_circus_env_substitutes_in_cmd_and_args(
    circus_run: CircusRun, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    sections = (
        f"[env]\nBASE = {base}\nDERIVED = $BASE/sub\nBRACED = ${{BASE}}-b\n"
        "PRICE = $$5\nFROM_DAEMON = $CIRCUS_COMPAT_RUN\nGREETING = hello\n"
        "[env:web]\nOWN = $(circus.env.GREETING)-web\n"
        f"[watcher:web]\ncmd = {sleeper(circus_run, '$(circus.env.GREETING)')}\n"
        "args = $(circus.env.DERIVED) ((circus.env.OWN))\n")
    config = write_config(circus_run, tmp_path / "circus.ini", sections)
    daemon = circus_run.start("ours", *config)
    argv, env = _argv_and_env(daemon, "web")
    assert argv[3:] == ["hello", circus_run.token, f"{base}/sub", "hello-web"]
    assert env == {"BASE": str(base), "DERIVED": f"{base}/sub", "BRACED": f"{base}-b",
                   "PRICE": "$5", "FROM_DAEMON": circus_run.token, "GREETING": "hello",
                   "OWN": "hello-web"}
