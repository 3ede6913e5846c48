"""What a spawned child sees: argv, cwd, env, identity, limits, umask and fds.

Every child reports its view of the world as JSON into a file and then waits
to be stopped, so each assertion is about a real process started by a real
watcher under an arbiter.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import resource
import shlex
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from circus.watcher import Watcher
from conftest import ArbiterHarness, apoll, python_cmd

MakeArbiter = Callable[..., Any]

# The child: argv[1] is the report path; "--read-stdin" makes it read fd 0.
REPORT_CODE = r"""
import json, os, resource, sys, time
fds = {}
for name in os.listdir("/proc/self/fd"):
    try:
        fds[name] = os.readlink("/proc/self/fd/" + name)
    except OSError:
        pass  # the descriptor listdir used, closed already
mask = os.umask(0)
os.umask(mask)
info = {
    "argv": sys.argv,
    "orig_argv": sys.orig_argv,
    "exe": os.readlink("/proc/self/exe"),
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "umask": mask,
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    "core": resource.getrlimit(resource.RLIMIT_CORE),
    "fds": fds,
    "pid": os.getpid(),
    "sid": os.getsid(0),
    "stdin": os.read(0, 64).decode() if "--read-stdin" in sys.argv else None,
}
path = sys.argv[1]
with open(path + ".tmp", "w") as handle:
    json.dump(info, handle)
os.rename(path + ".tmp", path)
time.sleep(3600)
"""

REPORT_CMD = python_cmd(REPORT_CODE)


async def read_report(path: Path, timeout: float = 10.0) -> dict[str, Any]:
    """Wait for the child's JSON report at ``path`` and return it."""
    await apoll(path.exists, timeout=timeout)
    report: dict[str, Any] = json.loads(path.read_text())
    return report


async def run_one(make_arbiter: MakeArbiter, path: Path, **options: Any) -> dict[str, Any]:
    """Start a one-process watcher with ``options`` and return its child's report."""
    options.setdefault("cmd", REPORT_CMD)
    options.setdefault("args", [str(path)])
    watcher = Watcher("probe", **options)
    harness: ArbiterHarness = await make_arbiter(watcher)
    report = await read_report(path)
    assert report["pid"] in harness.watcher("probe").pids
    return report


def child_env(report: dict[str, Any]) -> dict[str, str]:
    """The child's environment minus what the interpreter adds itself (PEP 538)."""
    env: dict[str, str] = dict(report["env"])
    env.pop("LC_CTYPE", None)
    return env


# -- cmd, args, shell, executable, working_dir ------------------------------------------------


async def test_args_as_string_are_split_like_a_shell(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    args = f"{shlex.quote(str(path))} plain 'two words' \"dq x\""
    report = await run_one(make_arbiter, path, args=args)
    assert report["argv"] == ["-c", str(path), "plain", "two words", "dq x"]


async def test_args_as_list_are_passed_verbatim(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, args=[str(path), "two words", "'q'", "$HOME"])
    assert report["argv"] == ["-c", str(path), "two words", "'q'", "$HOME"]


async def test_cmd_alone_carries_its_arguments(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, cmd=f"{REPORT_CMD} {path} 'a b'", args=None)
    assert report["argv"] == ["-c", str(path), "a b"]


async def test_shell_runs_the_line_with_shell_args_as_positional(
    make_arbiter, tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    cmd = f'exec {REPORT_CMD} {shlex.quote(str(path))} "$0" "$1" $((6 * 7))'
    report = await run_one(make_arbiter, path, cmd=cmd, args=None, shell=True,
                           shell_args="zero 'first one'")
    # $0/$1 come from shell_args and arithmetic expansion proves a shell ran the line.
    assert report["argv"] == ["-c", str(path), "zero", "first one", "42"]


async def test_shell_quotes_list_args_so_the_shell_keeps_them_whole(
    make_arbiter, tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, cmd=f"exec {REPORT_CMD}", shell=True,
                           args=[str(path), "two words", "$HOME", "a;b"])
    assert report["argv"] == ["-c", str(path), "two words", "$HOME", "a;b"]


async def test_a_bare_command_is_found_in_the_default_path_when_env_has_none(
    make_arbiter, tmp_path: Path
) -> None:
    # As exec does in the child (and circus 0.19): no PATH means os.defpath.
    assert shutil.which("sh", path=os.defpath)
    path = tmp_path / "seen"
    script = 'printf %s "$GREETING" > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 3600'
    watcher = Watcher("bare", cmd="sh", args=["-c", script, str(path)],
                      env={"GREETING": "hi"})
    await make_arbiter(watcher)
    await apoll(path.exists)
    assert path.read_text() == "hi"


def tool_dir(tmp_path: Path, name: str, seen: Path) -> Path:
    """A directory holding the program ``name``, which writes "ran" to ``seen`` and sleeps."""
    directory = tmp_path / "tools"
    directory.mkdir()
    tool = directory / name
    tool.write_text(f"#!/bin/sh\necho ran > {shlex.quote(str(seen))}\nexec /bin/sleep 3600\n")
    tool.chmod(0o755)
    return directory


async def test_a_bare_command_is_not_looked_up_on_circusds_own_path(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen"
    tools = tool_dir(tmp_path, "only-on-circusd-path", seen)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    # The child env has no PATH: circus 0.19 fails this spawn ("No such file"), so do we.
    watcher = Watcher("bare", cmd="only-on-circusd-path", env={"GREETING": "hi"},
                      max_retry=1, retry_in=0.01)
    harness = await make_arbiter(watcher)
    await apoll(lambda: harness.watcher("bare").status() == "stopped")
    assert not seen.exists()


async def test_a_bare_command_is_looked_up_on_the_childs_path(
    make_arbiter, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    tools = tool_dir(tmp_path, "on-child-path", seen)
    watcher = Watcher("bare", cmd="on-child-path", env={"PATH": str(tools)})
    await make_arbiter(watcher)
    await apoll(seen.exists)


async def test_executable_runs_another_program_than_argv0(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    cmd = f"fakename -u -c {shlex.quote(REPORT_CODE)} {path}"
    report = await run_one(make_arbiter, path, cmd=cmd, args=None, executable=sys.executable)
    assert report["orig_argv"][0] == "fakename"
    assert os.path.realpath(report["exe"]) == os.path.realpath(sys.executable)


async def test_working_dir_is_the_childs_cwd(make_arbiter, tmp_path: Path) -> None:
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, working_dir=str(workdir))
    assert report["cwd"] == str(workdir)
    assert os.getcwd() != str(workdir)  # circusd itself did not move


async def test_every_child_leads_its_own_session(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path)
    assert report["sid"] == report["pid"]


# -- uid, gid, supplementary groups -----------------------------------------------------------


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any user may write to (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="circus-uid-", dir="/tmp"))
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# `python` lives under /root here, which other users cannot reach: report with id(1).
ID_SCRIPT = (
    'id -u > "$0.tmp"; id -g >> "$0.tmp"; id -G >> "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 3600'
)


async def run_id(
    make_arbiter: MakeArbiter, path: Path, **options: Any
) -> tuple[int, int, set[int]]:
    """Run ``id`` under a watcher with ``options``; return (uid, gid, all groups)."""
    watcher = Watcher("ids", cmd="/bin/sh", args=["-c", ID_SCRIPT, str(path)], **options)
    await make_arbiter(watcher)
    await apoll(path.exists)
    uid, gid, groups = path.read_text().splitlines()
    return int(uid), int(gid), {int(g) for g in groups.split()}


def _user_with_supplementary_group() -> pwd.struct_passwd:
    """A user that is a member of a group besides its primary one, else ``nobody``."""
    for group in grp.getgrall():
        for member in group.gr_mem:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(member)
                if entry.pw_gid != group.gr_gid and entry.pw_uid != 0:
                    return entry
    return pwd.getpwnam("nobody")


async def test_uid_and_gid_by_name(make_arbiter, open_dir: Path) -> None:
    user = pwd.getpwnam("nobody")
    group_name = grp.getgrgid(user.pw_gid).gr_name
    uid, gid, groups = await run_id(make_arbiter, open_dir / "ids", uid="nobody", gid=group_name)
    assert (uid, gid) == (user.pw_uid, user.pw_gid)
    # initgroups semantics: nobody's own groups, none of root's.
    assert groups == set(os.getgrouplist("nobody", user.pw_gid))
    assert 0 not in groups


async def test_uid_by_number_gets_the_users_supplementary_groups(
    make_arbiter, open_dir: Path
) -> None:
    user = _user_with_supplementary_group()
    uid, gid, groups = await run_id(make_arbiter, open_dir / "ids", uid=user.pw_uid)
    assert (uid, gid) == (user.pw_uid, user.pw_gid)
    assert groups == set(os.getgrouplist(user.pw_name, user.pw_gid))
    assert 0 not in groups


async def test_gid_by_number_replaces_the_primary_group(make_arbiter, open_dir: Path) -> None:
    user = _user_with_supplementary_group()
    other = next(g.gr_gid for g in grp.getgrall() if g.gr_gid not in (0, user.pw_gid))
    uid, gid, groups = await run_id(make_arbiter, open_dir / "ids", uid=str(user.pw_uid),
                                    gid=other)
    assert (uid, gid) == (user.pw_uid, other)
    assert groups == set(os.getgrouplist(user.pw_name, other))


# -- environment ------------------------------------------------------------------------------


async def test_env_without_copy_env_is_all_the_child_gets(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCUS_TEST_MARKER", "from-circusd")
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, env={"ONLY_ME": "1", "ALSO": "two"})
    assert child_env(report) == {"ONLY_ME": "1", "ALSO": "two"}


async def test_no_env_and_no_copy_env_gives_an_empty_environment(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The manual: circusd's environment reaches workers only with copy_env
    # (default false). circus 0.19 starts such a child with nothing at all.
    monkeypatch.setenv("CIRCUS_TEST_MARKER", "from-circusd")
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path)
    assert child_env(report) == {}


async def test_copy_env_adds_circusds_environment_to_env(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCUS_TEST_MARKER", "from-circusd")
    monkeypatch.setenv("OVERRIDDEN", "circusd")
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, copy_env=True,
                           env={"OWN": "watcher", "OVERRIDDEN": "watcher"})
    env = report["env"]
    assert env["CIRCUS_TEST_MARKER"] == "from-circusd"
    assert env["OWN"] == "watcher"
    assert env["OVERRIDDEN"] == "watcher"  # the watcher's env wins over circusd's


async def test_copy_path_puts_sys_path_into_pythonpath(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, copy_env=True, copy_path=True)
    entries = report["env"]["PYTHONPATH"].split(os.pathsep)
    expected = [p for p in sys.path if p]
    assert expected
    assert set(expected) <= set(entries)


async def test_an_explicit_pythonpath_wins_over_copy_path(
    make_arbiter, tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, copy_env=True, copy_path=True,
                           env={"PYTHONPATH": "/mine"})
    assert report["env"]["PYTHONPATH"] == "/mine"  # as circus 0.19: env is applied last


async def test_virtualenv_prepends_bin_and_its_site_packages(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/already/there")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for version in ("2.7", "3.9"):
        (venv / "lib" / f"python{version}" / "site-packages").mkdir(parents=True)
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, copy_env=True, virtualenv=str(venv),
                           virtualenv_py_ver="3.9")
    env = report["env"]
    assert env["PATH"].split(os.pathsep)[0] == str(venv / "bin")
    assert env["PATH"].split(os.pathsep)[1:] == os.environ["PATH"].split(os.pathsep)
    pythonpath = env["PYTHONPATH"].split(os.pathsep)
    assert str(venv / "lib" / "python3.9" / "site-packages") in pythonpath
    assert str(venv / "lib" / "python2.7" / "site-packages") not in pythonpath
    assert "/already/there" in pythonpath


async def test_virtualenv_without_version_uses_the_venvs_site_packages(
    make_arbiter, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, copy_env=True, virtualenv=str(venv))
    assert str(site) in report["env"]["PYTHONPATH"].split(os.pathsep)
    assert report["env"]["PATH"].split(os.pathsep)[0] == str(venv / "bin")


async def test_virtualenv_adds_what_its_pth_files_name_and_no_virtual_env(
    make_arbiter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.9" / "site-packages"
    site.mkdir(parents=True)  # and no bin/: PATH stays as it was
    (venv / "src" / "a").mkdir(parents=True)
    (venv / "src" / "b").mkdir(parents=True)
    (site / "1.pth").write_text("# comment\nimport os\n../../../src/b\n\n../../../src/gone\n")
    (site / "2.pth").write_text("../../../src/a\n../../../src/b\n")
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, copy_env=True, virtualenv=str(venv),
                           virtualenv_py_ver="3.9", env={"PYTHONPATH": "/own"})
    env = report["env"]
    assert env["PYTHONPATH"].split(os.pathsep) == [
        str(venv / "src" / "b"), str(venv / "src" / "a"), "/own", str(site)]
    assert env["PATH"] == os.environ["PATH"]
    assert "VIRTUAL_ENV" not in env  # circus 0.19 sets none


def test_a_virtualenv_without_site_packages_is_refused_naming_the_fix(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.9" / "site-packages").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no site-packages for Python 2\.7 .*"
                       r"set virtualenv_py_ver"):
        Watcher("venv", cmd="x", copy_env=True, virtualenv=str(venv), virtualenv_py_ver="2.7")


# -- rlimits and umask ------------------------------------------------------------------------


async def test_rlimits_are_set_in_the_child(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, rlimits={"nofile": 123, "CORE": None})
    assert report["nofile"] == [123, 123]
    assert report["core"] == [resource.RLIM_INFINITY, resource.RLIM_INFINITY]
    # circusd's own limits are untouched.
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] != 123


async def test_rlimit_nofile_without_value_is_the_hard_limit(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, rlimits={"nofile": None})
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert report["nofile"] == [hard, hard]


async def test_umask_is_set_in_the_child(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, umask=0o027)
    assert report["umask"] == 0o027
    mine = os.umask(0)
    os.umask(mine)
    assert mine != 0o027


# -- stdio ------------------------------------------------------------------------------------


@pytest.fixture
def stdin_pipe() -> Iterator[int]:
    """Replace this process's fd 0 by a pipe holding ``hello``; restore afterwards."""
    saved = os.dup(0)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"hello")
    os.dup2(read_fd, 0)
    os.close(read_fd)
    try:
        yield write_fd
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(write_fd)


async def test_close_child_stdin_gives_dev_null(
    make_arbiter, tmp_path: Path, stdin_pipe: int
) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, args=[str(path), "--read-stdin"])
    assert report["fds"]["0"] == "/dev/null"
    assert report["stdin"] == ""


async def test_close_child_stdin_false_inherits_circusds_stdin(
    make_arbiter, tmp_path: Path, stdin_pipe: int
) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, args=[str(path), "--read-stdin"],
                           close_child_stdin=False)
    assert report["fds"]["0"] == os.readlink("/proc/self/fd/0")
    assert report["stdin"] == "hello"


async def test_close_child_stdout_and_stderr_win_over_streams(
    make_arbiter, tmp_path: Path
) -> None:
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    path = tmp_path / "r.json"
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr)\n" + REPORT_CODE
    report = await run_one(
        make_arbiter, path, cmd=python_cmd(code),
        stdout_stream={"class": "FileStream", "filename": str(out)},
        stderr_stream={"class": "FileStream", "filename": str(err)},
        close_child_stdout=True, close_child_stderr=True,
    )
    assert report["fds"]["1"] == "/dev/null"
    assert report["fds"]["2"] == "/dev/null"
    assert out.read_bytes() == b""
    assert err.read_bytes() == b""


async def test_streams_give_the_child_pipes(make_arbiter, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report = await run_one(
        make_arbiter, path,
        stdout_stream={"class": "FileStream", "filename": str(tmp_path / "out.log")},
        stderr_stream={"class": "FileStream", "filename": str(tmp_path / "err.log")},
    )
    assert report["fds"]["1"].startswith("pipe:")
    assert report["fds"]["2"].startswith("pipe:")
    assert report["fds"]["1"] != report["fds"]["2"]


# -- dynamic variables ------------------------------------------------------------------------


async def test_circus_variables_are_expanded_in_cmd_and_args(
    make_arbiter, tmp_path: Path
) -> None:
    watcher = Watcher(
        "vars",
        cmd=f"{REPORT_CMD} {tmp_path}/r-$(circus.wid).json",
        args=["((circus.wid))", "$(circus.numprocesses)", "$(CIRCUS.ENV.SUGAR)",
              "$(Circus.Working_Dir)", "$(circus.unknown_thing)"],
        numprocesses=2,
        working_dir=str(tmp_path),
        env={"sugar": "three lumps"},
    )
    await make_arbiter(watcher)
    for wid in ("1", "2"):
        report = await read_report(tmp_path / f"r-{wid}.json")
        assert report["argv"] == ["-c", f"{tmp_path}/r-{wid}.json", wid, "2", "three lumps",
                                  str(tmp_path), "$(circus.unknown_thing)"]


async def test_args_string_expands_variables_before_splitting(
    make_arbiter, tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    report = await run_one(make_arbiter, path, args=f"{path} wid=$(circus.wid) '$(circus.name)'")
    assert report["argv"] == ["-c", str(path), "wid=1", "probe"]


# -- file descriptors -------------------------------------------------------------------------


async def test_children_inherit_no_descriptor_of_circusd(make_arbiter, tmp_path: Path) -> None:
    bait = tmp_path / "bait.txt"
    bait_fd = os.open(bait, os.O_WRONLY | os.O_CREAT)
    os.set_inheritable(bait_fd, True)  # even an inheritable fd must not reach the child
    try:
        out = tmp_path / "out.log"
        watcher = Watcher(
            "fds",
            cmd=f"{REPORT_CMD} {tmp_path}/r-$(circus.wid).json",
            numprocesses=3,
            stdout_stream={"class": "FileStream", "filename": str(out)},
            stderr_stream={"class": "FileStream", "filename": str(out)},
        )
        await make_arbiter(watcher)
        for wid in (1, 2, 3):
            report = await read_report(tmp_path / f"r-{wid}.json")
            fds = report["fds"]
            assert sorted(fds) == ["0", "1", "2"], fds
            assert fds["0"] == "/dev/null"
            assert stat.S_ISFIFO(os.stat(f"/proc/{report['pid']}/fd/1").st_mode)
    finally:
        os.close(bait_fd)


async def test_legacy_wid_spelling_is_still_expanded(tmp_path, make_arbiter, caplog):
    """``$WID`` (the 0.x spelling) becomes the worker id, with a deprecation warning."""
    out = tmp_path / "wids"
    code = (
        f"import sys, time; open({str(out)!r}, 'a').write(sys.argv[1] + '\\n'); time.sleep(60)"
    )
    watcher = Watcher("legacy", python_cmd(code) + " $WID", numprocesses=2)
    with caplog.at_level("WARNING", logger="circus"):
        await make_arbiter(watcher)
        await apoll(lambda: out.exists() and len(out.read_text().split()) == 2)
    assert sorted(out.read_text().split()) == ["1", "2"]
    assert any("$WID" in r.getMessage() and "deprecated" in r.getMessage() for r in caplog.records)


async def test_program_on_path_is_found_again_after_it_moves(tmp_path, make_arbiter):
    """Resolved PATH programs are remembered, but one that moved is looked up again."""
    first, second = tmp_path / "bin1", tmp_path / "bin2"
    first.mkdir()
    second.mkdir()
    tool = first / "mytool"
    tool.write_text("#!/bin/sh\nexec sleep 60\n")
    tool.chmod(0o755)
    env = {"PATH": f"{first}{os.pathsep}{second}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    watcher = Watcher("tool", "mytool --flag", env=env)
    await make_arbiter(watcher)
    assert len(watcher.pids) == 1
    await watcher.stop()
    tool.rename(second / "mytool")
    await watcher.start()
    await apoll(lambda: watcher.pids)
    assert watcher.status() == "active"


async def test_argv0_is_the_name_written_in_cmd(make_arbiter):
    """``cmd = sleep 60`` shows up as ``sleep 60`` in ps, not as the resolved path."""
    watcher = Watcher("sleeper", "sleep 60")
    await make_arbiter(watcher)
    await apoll(lambda: psutil.Process(watcher.pids[0]).name() == "sleep")
    assert psutil.Process(watcher.pids[0]).cmdline() == ["sleep", "60"]
