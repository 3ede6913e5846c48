"""The environment each child gets, under upstream circusd 0.19 and under ours.

The same config runs under both daemons, started with the same environment;
each child's environment is read from ``/proc/<pid>/environ`` and the two
must be equal. This covers ``copy_env`` off (the child gets only the config's
env entries: nothing at all when there are none) and on, ``copy_path``,
``virtualenv`` (PATH, the site-packages and the paths its ``.pth`` files name),
and which program a bare ``cmd`` runs when the child's env has no PATH.
Upstream's ``__name__`` entry (a parser key that leaks into every child with
an ``[env]`` section; see "The environment of a watcher's processes" in the
circus-core README) is the one difference we do not copy.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from _circus_peer import peer_env
from _circus_run import (
    BIN,
    PYTHON,
    SLEEP_CODE,
    CircusRun,
    Daemon,
    answers,
    call,
    marked,
    terminate,
    wait_for,
)

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
OUR_ROOT = Path(os.path.abspath(sys.executable)).parent.parent


@dataclass
class Child:
    """What one watcher's child looks like from outside."""

    status: str
    env: dict[str, str] | None = None
    exe: str | None = None


def sleeper(token: str) -> str:
    return f"{shlex.quote(PYTHON)} -c {shlex.quote(SLEEP_CODE)} {token}"


def tools(tmp_path: Path) -> Path:
    """A directory with ``probe-tool`` (a sleeper keeping its argv), for PATH lookups."""
    directory = tmp_path / "tools"
    directory.mkdir(exist_ok=True)
    tool = directory / "probe-tool"
    tool.write_text(f"#!/bin/sh\nexec {shlex.quote(PYTHON)} -c {shlex.quote(SLEEP_CODE)} "
                    '"$@"\n')
    tool.chmod(0o755)
    return directory


def fake_venv(root: Path, version: str, with_bin: bool) -> Path:
    site = root / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    if with_bin:
        (root / "bin").mkdir()
    (root / "src" / "pkg").mkdir(parents=True)
    (site / "editable.pth").write_text(
        "# a comment\nimport sys\n../../../src/pkg\n../../../src/missing\n")
    return root


def daemon_env(run: CircusRun) -> dict[str, str]:
    """The one environment both daemons start with.

    Inherited values with surrounding blanks or a ``$`` are left out: with
    ``copy_env`` upstream strips and ``$VAR``-expands every value it copies
    (an accident of reading them like ``[env]`` entries; `make`'s MAKEFLAGS
    starts with a blank), while ours passes them unchanged, on purpose.
    """
    env = peer_env({"ENV_PROBE": "from-circusd",
                    "PATH": f"{tools(run.tmp_path)}{os.pathsep}{os.environ['PATH']}"})
    env = {key: value for key, value in env.items()
           if value == value.strip() and "$" not in value}
    return run.client_env(env)


def launch(run: CircusRun, kind: str, sections: str) -> Daemon:
    endpoint, pubsub = run.endpoints(kind)
    config = run.tmp_path / f"{kind}.ini"
    config.write_text(f"[circus]\nendpoint = {endpoint}\npubsub_endpoint = {pubsub}\n"
                      f"check_delay = 1\n\n{sections}")
    if kind == "ours":
        argv = [str(BIN / "circusd")]
    else:
        assert run.peer is not None
        argv = [str(run.peer / "bin" / "circusd")]
    log = run.tmp_path / f"{kind}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*argv, str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=daemon_env(run),
                                   cwd=run.tmp_path, start_new_session=True)
    daemon = Daemon(kind, process, endpoint, pubsub, config, log)
    run.daemons.append(daemon)
    deadline = time.monotonic() + 30
    while not answers(endpoint):
        assert daemon.running(), daemon.log_text()
        assert time.monotonic() < deadline, daemon.log_text()
        time.sleep(0.05)
    return daemon


def settled(daemon: Daemon, watcher: str) -> Child | None:
    """The watcher's child once it runs (or the watcher gave up), else None."""
    status = call(daemon.endpoint, "status", name=watcher)["status"]
    pids = daemon.pids(watcher)
    if status == "stopped" and not pids:
        # A watcher whose start has not come yet says "stopped" too (upstream
        # starts them one by one after it answers): only a stop it logged counts.
        stopped = re.compile(rf"(?<![\w.-]){re.escape(watcher)} stopped")
        return Child(status) if stopped.search(daemon.log_text()) else None
    if status != "active" or len(pids) != 1:
        return None
    pid = pids[0]
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        exe = os.path.realpath(f"/proc/{pid}/exe")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if any(arg.endswith(b"/probe-tool") for arg in argv):
        return None  # the probe-tool script has not exec'd python yet
    env = dict(item.decode().split("=", 1) for item in raw.split(b"\0") if item)
    return Child(status, env, exe)


def children(daemon: Daemon, watchers: list[str], root: Path) -> dict[str, Child]:
    """Each watcher's child, with the daemon's own venv root written as ``<venv>``."""
    found: dict[str, Child] = {}
    deadline = time.monotonic() + 30
    while len(found) < len(watchers):
        for name in watchers:
            if name not in found and (child := settled(daemon, name)) is not None:
                found[name] = child
        assert time.monotonic() < deadline, f"{set(watchers) - set(found)}: {daemon.log_text()}"
        time.sleep(0.05)
    for child in found.values():
        if child.env is not None:
            child.env.pop("__name__", None)  # upstream's leak (see the docstring)
            child.env = {key: value.replace(str(root), "<venv>")
                         for key, value in child.env.items()}
    return found


def compare(run: CircusRun, sections: str, watchers: list[str]) -> dict[str, Child]:
    """Run *sections* under both daemons; assert every child matches; return ours."""
    assert run.peer is not None
    results = {}
    for kind, root in (("upstream", run.peer), ("ours", OUR_ROOT)):
        daemon = launch(run, kind, sections)
        results[kind] = children(daemon, watchers, root)
        assert terminate(daemon), f"{kind} circusd ignored SIGTERM"
        if kind == "upstream":
            # Upstream stops only each child's own pid, so grandchildren outlive
            # it (an upstream bug we do not copy); they must not be taken for ours.
            for pid in marked(run.token):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not marked(run.token), "upstream's leftovers to die")
    for name in watchers:
        ours, theirs = results["ours"][name], results["upstream"][name]
        if ours.env is not None and theirs.env is not None:
            differing = {key: (ours.env.get(key), theirs.env.get(key))
                         for key in set(ours.env) | set(theirs.env)
                         if ours.env.get(key) != theirs.env.get(key)}
            assert differing == {}, f"{name}: (ours, upstream) {differing}"
        assert ours == theirs, name
    return results["ours"]


def test_children_get_the_environment_upstream_gives_them(upstream_run: CircusRun) -> None:
    run, token = upstream_run, upstream_run.token
    venv = fake_venv(run.tmp_path / "venv", VERSION, with_bin=True)
    old = fake_venv(run.tmp_path / "old", "3.9", with_bin=False)
    sections = (
        f"[watcher:bare]\ncmd = {sleeper(token)}\n"
        f"[watcher:copied]\ncmd = {sleeper(token)}\ncopy_env = true\n"
        f"[watcher:copied_path]\ncmd = {sleeper(token)}\ncopy_env = true\ncopy_path = true\n"
        f"[watcher:venv]\ncmd = {sleeper(token)}\ncopy_env = true\nvirtualenv = {venv}\n"
        f"[watcher:old_venv]\ncmd = {sleeper(token)}\ncopy_env = true\nvirtualenv = {old}\n"
        "virtualenv_py_ver = 3.9\n"
        # No PATH in the child's env: os.defpath, never circusd's PATH.
        f"[watcher:not_on_defpath]\ncmd = probe-tool {token}\nmax_retry = 1\n"
        # The grandchild carries the token, so no stop can orphan it unseen.
        f"[watcher:on_defpath]\ncmd = sh -c '{tools(run.tmp_path)}/probe-tool \"$0\"; true' "
        f"{token}\n"
    )
    watchers = ["bare", "copied", "copied_path", "venv", "old_venv", "not_on_defpath",
                "on_defpath"]
    ours = compare(run, sections, watchers)
    # What the comparison proved, spelled out.
    assert ours["bare"].env == {}
    assert ours["copied"].env is not None and ours["copied"].env["ENV_PROBE"] == "from-circusd"
    assert ours["copied_path"].env is not None
    # circusd's own sys.path, without what the venv watchers added to it.
    assert ours["copied_path"].env["PYTHONPATH"].endswith(
        f"<venv>/lib/python{VERSION}/site-packages")
    assert ours["venv"].env is not None
    assert ours["venv"].env["PYTHONPATH"] == (
        f"{venv}/src/pkg:{venv}/lib/python{VERSION}/site-packages")
    assert ours["venv"].env["PATH"].startswith(f"{venv}/bin:")
    assert "VIRTUAL_ENV" not in ours["venv"].env
    assert ours["not_on_defpath"].status == "stopped"
    assert ours["on_defpath"].exe is not None and Path(ours["on_defpath"].exe).name == "dash"


def test_env_entries_are_all_a_child_gets_without_copy_env(upstream_run: CircusRun) -> None:
    run, token = upstream_run, upstream_run.token
    sections = (
        "[env]\nFOO = bar\n"
        "[env:with_*]\nBAZ = $ENV_PROBE/x\n"
        f"[env:with_path]\nPATH = {tools(run.tmp_path)}\n"
        f"[watcher:with_entries]\ncmd = {sleeper(token)}\n"
        f"[watcher:with_copy]\ncmd = {sleeper(token)}\ncopy_env = true\n"
        f"[watcher:with_path]\ncmd = probe-tool {token}\n"
        f"[watcher:no_path]\ncmd = probe-tool {token}\nmax_retry = 1\n"
    )
    ours = compare(run, sections, ["with_entries", "with_copy", "with_path", "no_path"])
    assert ours["with_entries"].env == {"FOO": "bar", "BAZ": "from-circusd/x"}
    copied = ours["with_copy"].env
    assert copied is not None and copied["FOO"] == "bar" and "ENV_PROBE" in copied
    assert ours["with_path"].status == "active"
    assert ours["no_path"].status == "stopped"


@pytest.mark.parametrize("copy_env", [False, True])
def test_a_config_without_env_sections_matches_too(upstream_run: CircusRun,
                                                    copy_env: bool) -> None:
    # The simplest config of all, the one most users have.
    run = upstream_run
    sections = f"[watcher:plain]\ncmd = {sleeper(run.token)}\ncopy_env = {copy_env}\n"
    ours = compare(run, sections, ["plain"])
    env = ours["plain"].env
    assert env is not None and (("ENV_PROBE" in env) is copy_env)
